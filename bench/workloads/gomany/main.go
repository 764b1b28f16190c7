// gomany: N goroutines parked at a few different sites, for measuring what a
// goroutine dump costs. On SIGUSR1 it takes the runtime's own dump
// (pprof goroutine profile, debug=2, which stops the world) and prints how
// long that took, so the bench can put both costs side by side.
//
// Before "ready" it runs two GC cycles, as any program that has been up a
// while has (one is not always enough, as in tests/go): the GC stamps
// g.waitsince of the goroutines it finds blocked, which is what lets tangle's
// later snapshots skip the stacks of goroutines that have not run since the
// last one.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

//go:noinline
func recvWorker(ch chan int) { <-ch }

//go:noinline
func lockWorker(mu *sync.Mutex) { mu.Lock() }

//go:noinline
func selectWorker(a, b chan int) {
	select {
	case <-a:
	case <-b:
	}
}

//go:noinline
func deep(n int, ch chan int) {
	if n == 0 {
		<-ch
		return
	}
	deep(n-1, ch)
}

func main() {
	n := flag.Int("n", 100000, "goroutines to park")
	flag.Parse()
	ch, a, b := make(chan int), make(chan int), make(chan int)
	var mu sync.Mutex
	mu.Lock()
	for i := 0; i < *n; i++ {
		switch i % 4 {
		case 0:
			go recvWorker(ch)
		case 1:
			go lockWorker(&mu)
		case 2:
			go selectWorker(a, b)
		default:
			go deep(8, ch)
		}
	}
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	fmt.Println("ready")
	for range sig {
		start := time.Now()
		pprof.Lookup("goroutine").WriteTo(io.Discard, 2)
		fmt.Printf("pprof_ns %d\n", time.Since(start).Nanoseconds())
	}
}
