// Command growing_leak: a long-running HTTP server whose handler leaks one
// goroutine per request (a result sent on an unbuffered channel after the
// handler gave up). Its own client calls /work every 20 ms, so the number of
// goroutines stuck on "chan send" keeps growing, steadily, for as long as it
// runs. truth.json lists those leaked before "ready" (at least 20).
package main

import (
	"flag"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var (
	reg    fx.Registry
	leaked atomic.Int64
)

const interval = 20 * time.Millisecond

func work(w http.ResponseWriter, r *http.Request) {
	ch := make(chan string)
	gaveUp := make(chan struct{})
	go func() { // spawn:leak
		<-gaveUp
		reg.Leaked(fx.G{Role: "leak", Reason: "chan send", Stable: true, Stuck: true, Chan: fx.Addr(ch)})
		leaked.Add(1)
		ch <- r.URL.Path // at:leak
	}()
	defer close(gaveUp)
	select {
	case s := <-ch:
		io.WriteString(w, s)
	case <-r.Context().Done():
	case <-time.After(time.Millisecond):
		http.Error(w, "timeout", http.StatusGatewayTimeout)
	}
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.HandlerFunc(work))
	url := "http://" + ln.Addr().String() + "/work"
	reg.SetExtra("leak_interval_ms", interval.Milliseconds())
	reg.SetExtra("leak_url", url)
	go func() {
		c := &http.Client{}
		for {
			if resp, err := c.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(interval)
		}
	}()
	for leaked.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/growing_leak", *out)
}
