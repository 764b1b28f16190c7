// Command cond_never_signalled: a consumer waits on a sync.Cond for an item;
// the producer adds the item but never signals. The consumer stays in
// "sync.Cond.Wait" forever although its condition is true.
package main

import (
	"flag"
	"sync"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
}

var reg fx.Registry

func (q *queue) take(goid chan<- int64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	goid <- reg.Here(fx.G{Role: "waiter", Reason: "sync.Cond.Wait", Stable: true, Stuck: true, Parent: 1})
	for len(q.items) == 0 {
		q.cond.Wait() // at:waiter
	}
	panic("woken")
}

func (q *queue) put(v int) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	// the bug: no q.cond.Signal()
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	goid := make(chan int64, 1)
	reg.Add()
	go q.take(goid) // spawn:waiter
	if !fx.WaitReason(<-goid, "sync.Cond.Wait", 10*time.Second) {
		panic("the consumer does not wait")
	}
	q.put(42)
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/cond_never_signalled", *out)
}
