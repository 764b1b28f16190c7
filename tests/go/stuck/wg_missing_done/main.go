// Command wg_missing_done: a collector waits on a WaitGroup one of whose
// workers returns early without calling Done. The collector blocks in
// WaitGroup.Wait forever ("sync.WaitGroup.Wait"; "semacquire" before go1.24).
package main

import (
	"flag"
	"sync"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

func process(item int, wg *sync.WaitGroup) {
	if item%5 == 3 {
		return // the bug: an error path that skips wg.Done()
	}
	defer wg.Done()
	time.Sleep(time.Millisecond)
}

func collect(items []int, parent int64) {
	var wg sync.WaitGroup
	wg.Add(len(items))
	for _, it := range items {
		go process(it, &wg)
	}
	reg.Here(fx.G{Role: "collector", Reason: fx.WaitGroupReason(), Stable: true, Stuck: true,
		Parent: parent})
	wg.Wait() // at:collector
	panic("all done")
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	reg.Add()
	go collect([]int{0, 1, 2, 3, 4}, fx.Goid()) // spawn:collector
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/wg_missing_done", *out)
}
