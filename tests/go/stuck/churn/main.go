// Command churn: a goroutine table that never holds still. Goroutines are
// created and gone by the ten thousand each second, at stack depths that make
// the runtime grow and copy their stacks; g structs come back from the free
// lists under new goids; every few bursts allgs grows by thousands of
// goroutines parked on a channel for a moment. Nothing is stuck: a reader of
// the table must neither crash, loop nor report anything. The healthy load
// (internal/load) runs beside it.
package main

import (
	"flag"
	"runtime"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

// deep recurses n frames of 512 bytes each (past the first 8 KiB the stack
// is grown, that is copied), then sleeps a moment down there.
func deep(n int, nap time.Duration) byte {
	var buf [512]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		time.Sleep(nap)
		return buf[0]
	}
	return deep(n-1, nap) + buf[(n*7)%len(buf)]
}

// churn starts 40 goroutines every 2 ms (20,000 a second), each alive for a
// few ms; every half second a crowd of 5,000 parks on a channel for 20 ms.
func churn() {
	tick := time.NewTicker(2 * time.Millisecond)
	for round := 0; ; round++ {
		<-tick.C
		for i := 0; i < 40; i++ {
			go func(d int) {
				if deep(d, time.Duration(d%5)*time.Millisecond) == 0xff {
					runtime.Gosched()
				}
			}((round + i) % 48)
		}
		if round%250 == 0 {
			gate := make(chan struct{})
			for i := 0; i < 5000; i++ {
				go func() { <-gate }()
			}
			time.AfterFunc(20*time.Millisecond, func() { close(gate) })
		}
	}
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, addr := load.Start(&reg, load.Options{})
	reg.SetExtra("load_url", addr)
	if !st.WaitBusy(10 * time.Second) {
		panic("the load does not run")
	}
	go churn()
	reg.Serve("stuck/churn", *out)
}
