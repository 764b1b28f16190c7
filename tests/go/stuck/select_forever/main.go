// Command select_forever: a "keep-alive" goroutine parks in an empty select
// ("select (no cases)"), which nothing can ever wake.
package main

import (
	"flag"
	"fmt"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

func startKeepalive() {
	reg.Add()
	go func() { // spawn:select_forever
		defer fmt.Println("unreachable cleanup")
		reg.Here(fx.G{Role: "select_forever", Reason: "select (no cases)", Stable: true, Stuck: true, Parent: 1})
		select {} // at:select_forever
	}()
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	startKeepalive()
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/select_forever", *out)
}
