// Command nil_chan: a service whose events channel was never made; its loop
// receives from a nil channel and blocks forever ("chan receive (nil chan)").
package main

import (
	"flag"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

type service struct {
	events chan string // the bug: never made
}

func (s *service) run() {
	reg.Here(fx.G{Role: "nil_recv", Reason: "chan receive (nil chan)", Stable: true, Stuck: true, Parent: 1})
	for ev := range s.events { // at:nil_recv
		_ = ev
	}
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	s := &service{}
	reg.Add()
	go s.run() // spawn:nil_recv
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/nil_chan", *out)
}
