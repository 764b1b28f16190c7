// Command healthy: the load alone (a busy worker pool, an HTTP server under
// keep-alive load, tickers and timers) and a main goroutine waiting for
// SIGTERM. Nothing here is stuck; a detector must report nothing.
package main

import (
	"flag"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, addr := load.Start(&reg, load.Options{})
	reg.SetExtra("load_url", addr)
	if !st.WaitBusy(10 * time.Second) {
		panic("the load does not run")
	}
	reg.Serve("stuck/healthy", *out)
}
