// Command early_return: a result is sent on an unbuffered channel whose
// receiver has already returned (it gave up after a timeout). The sender
// blocks on "chan send" forever, once per call: three calls, three goroutines
// stuck, beside a healthy load (internal/load).
package main

import (
	"errors"
	"flag"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

var errTimeout = errors.New("timeout")

// fetch asks a goroutine for a value and waits for it at most 5 ms. The bug:
// the channel is unbuffered, so once fetch has returned nobody ever receives.
func fetch(id int) error {
	ch := make(chan int)
	gaveUp := make(chan struct{})
	parent := fx.Goid()
	reg.Add()
	go func() { // spawn:sender
		<-gaveUp // the work "takes longer" than the caller waits, deterministically
		reg.Here(fx.G{Role: "sender", Reason: "chan send", Stable: true, Stuck: true,
			Parent: parent, Chan: fx.Addr(ch)})
		ch <- id * id // at:sender
	}()
	defer close(gaveUp)
	select {
	case <-ch:
		return nil
	case <-time.After(5 * time.Millisecond):
		return errTimeout
	}
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	for i := 0; i < 3; i++ {
		if err := fetch(i); err != errTimeout {
			panic("fetch did not time out")
		}
	}
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/early_return", *out)
}
