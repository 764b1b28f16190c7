// Command rwmutex_recursive: a goroutine holding a read lock takes it again
// while a writer waits. The writer waits for the reader ("sync.RWMutex.Lock"),
// the second RLock waits for the writer ("sync.RWMutex.RLock"): deadlock.
package main

import (
	"flag"
	"sync"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var (
	reg fx.Registry
	rw  sync.RWMutex
)

func lookup(haveRead, writerWaiting chan struct{}) {
	rw.RLock()
	close(haveRead)
	<-writerWaiting
	reg.Here(fx.G{Role: "reader", Reason: "sync.RWMutex.RLock", Stable: true, Stuck: true, Parent: 1})
	rw.RLock() // at:reader
	panic("acquired")
}

func update(haveRead chan struct{}, goid chan<- int64) {
	<-haveRead
	goid <- reg.Here(fx.G{Role: "writer", Reason: "sync.RWMutex.Lock", Stable: true, Stuck: true, Parent: 1})
	rw.Lock() // at:writer
	panic("acquired")
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	haveRead, writerWaiting := make(chan struct{}), make(chan struct{})
	writer := make(chan int64, 1)
	reg.Add()
	go lookup(haveRead, writerWaiting) // spawn:reader
	reg.Add()
	go update(haveRead, writer) // spawn:writer
	if !fx.WaitReason(<-writer, "sync.RWMutex.Lock", 10*time.Second) {
		panic("the writer does not wait")
	}
	close(writerWaiting)
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/rwmutex_recursive", *out)
}
