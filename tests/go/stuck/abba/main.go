// Command abba: two goroutines take sync.Mutexes a and b in opposite orders
// and deadlock ("sync.Mutex.Lock"); a third that then wants a is stuck behind
// them for good.
package main

import (
	"flag"
	"sync"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var (
	reg  fx.Registry
	a, b sync.Mutex
)

// transfer locks first, waits until the other side holds its first lock too,
// then locks second.
func transfer(role string, first, second *sync.Mutex, holding, other chan struct{}, goids chan<- int64) {
	first.Lock()
	close(holding)
	<-other
	goids <- reg.Here(fx.G{Role: role, Reason: "sync.Mutex.Lock", Stable: true, Stuck: true,
		Parent: 1})
	second.Lock() // at:abba_1 at:abba_2
	panic("acquired")
}

func audit() {
	reg.Here(fx.G{Role: "auditor", Reason: "sync.Mutex.Lock", Stable: true, Stuck: true, Parent: 1})
	a.Lock() // at:auditor
	panic("acquired")
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	h1, h2 := make(chan struct{}), make(chan struct{})
	goids := make(chan int64, 2)
	reg.Add()
	go transfer("abba_1", &a, &b, h1, h2, goids) // spawn:abba_1
	reg.Add()
	go transfer("abba_2", &b, &a, h2, h1, goids) // spawn:abba_2
	for _, id := range []int64{<-goids, <-goids} {
		if !fx.WaitReason(id, "sync.Mutex.Lock", 10*time.Second) {
			panic("no deadlock")
		}
	}
	reg.Add()
	go audit() // spawn:auditor
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/abba", *out)
}
