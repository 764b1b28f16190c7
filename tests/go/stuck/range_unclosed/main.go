// Command range_unclosed: a consumer ranges over a channel its producer never
// closes. Once every item is consumed it blocks on "chan receive" forever.
package main

import (
	"flag"
	"sync/atomic"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

const items = 100

func produce(ch chan<- int) {
	for i := 0; i < items; i++ {
		ch <- i
	}
	// the bug: no close(ch)
}

func consume(ch <-chan int, parent int64, processed *atomic.Int64) {
	reg.Here(fx.G{Role: "consumer", Reason: "chan receive", Stable: true, Stuck: true,
		Parent: parent, Chan: fx.Addr(ch)})
	for range ch { // at:consumer
		processed.Add(1)
	}
	panic("the channel was closed")
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	ch := make(chan int, 8)
	var processed atomic.Int64
	reg.Add()
	go consume(ch, fx.Goid(), &processed) // spawn:consumer
	go produce(ch)
	for processed.Load() < items { // ready only once the consumer is truly stuck
		time.Sleep(time.Millisecond)
	}
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/range_unclosed", *out)
}
