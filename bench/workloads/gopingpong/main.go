// gopingpong: two goroutines bounce a value over two unbuffered channels
// for SECONDS (GOMAXPROCS left at its default). Every round trip is two
// channel hand-offs, each parking and readying a goroutine: the goroutine
// state transitions an event-based tracer pays for. Prints one JSON line:
// {"ops": round trips, "ops_per_s": ..., "seconds": ...}.
package main

import (
	"flag"
	"fmt"
	"sync/atomic"
	"time"
)

func main() {
	seconds := flag.Float64("seconds", 3, "how long to run")
	flag.Parse()
	ping, pong := make(chan int), make(chan int)
	var stop atomic.Bool
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	start := time.Now()
	time.AfterFunc(time.Duration(*seconds*float64(time.Second)), func() { stop.Store(true) })
	ops := 0
	for !stop.Load() {
		ping <- ops
		<-pong
		ops++
	}
	el := time.Since(start).Seconds()
	close(ping)
	fmt.Printf("{\"ops\": %d, \"ops_per_s\": %.1f, \"seconds\": %.3f}\n", ops, float64(ops)/el, el)
}
