// Package testfatal: a test that waits for two results while one of its
// worker goroutines calls t.Fatalf before sending. t.Fatalf ends that
// goroutine (runtime.Goexit), so the test blocks on its second receive
// forever, and the testing main goroutine waits in t.Run behind it.
// Built with `go test -c`; run as BIN -test.run ^TestTwoResults$ -test.timeout 0 -out DIR.
package testfatal

import (
	"errors"
	"flag"
	"testing"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var (
	reg fx.Registry
	out = fx.OutFlag()
)

func check(i int) error {
	if i == 1 {
		return errors.New("bad input")
	}
	return nil
}

func TestTwoResults(t *testing.T) {
	if !flag.Parsed() {
		t.Fatal("flags not parsed")
	}
	st, _ := load.Start(&reg, load.Options{})
	done := make(chan bool)
	for i := 0; i < 2; i++ {
		go func(i int) { // spawn:worker
			if err := check(i); err != nil {
				t.Fatalf("worker %d: %v", i, err) // the bug: Goexit, done is never sent
			}
			done <- true
		}(i)
	}
	<-done // the good worker's result
	reg.HereFor(1, fx.G{Role: "testing_main", Reason: "chan receive", Stable: true, Stuck: true})
	st.WaitBusy(10 * time.Second)
	reg.Add()
	reg.Here(fx.G{Role: "test", Reason: "chan receive", Stable: true, Stuck: true, Parent: 1,
		Chan: fx.Addr(done)})
	go reg.Finish("stuck/testfatal", *out, 60*time.Second)
	<-done // at:test
	t.Log("unreachable")
}
