// Package load is the healthy background of the stuck-goroutine fixtures: a
// busy worker pool, an HTTP server on 127.0.0.1:0 under load from its own
// keep-alive clients, and tickers. None of it is ever stuck: every goroutine
// here wakes up again within milliseconds, so a detector must never report it.
//
// The goroutines it starts register themselves as not Stable (their state
// keeps changing); the server's own goroutines (accept loop, one per
// connection) are not registered at all.
package load

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	fx "tangle/gofixtures/internal/fixture"
)

// Stats counts the work done, so a test can see the load is alive.
type Stats struct {
	Jobs     atomic.Int64
	Requests atomic.Int64
	Ticks    atomic.Int64
}

// Options sizes the load; the zero value is the default.
type Options struct {
	Workers int           // worker pool size (4)
	Clients int           // keep-alive HTTP clients (3)
	Pace    time.Duration // pause between a client's requests and between jobs (2ms)
}

// Start starts the load in the background and returns its counters and the
// server's address. Goroutines are announced to reg (reg.Add) before they start.
func Start(reg *fx.Registry, opt Options) (*Stats, string) {
	if opt.Workers == 0 {
		opt.Workers = 4
	}
	if opt.Clients == 0 {
		opt.Clients = 3
	}
	if opt.Pace == 0 {
		opt.Pace = 2 * time.Millisecond
	}
	st := &Stats{}
	parent := fx.Goid()

	jobs := make(chan []byte, 64)
	for i := 0; i < opt.Workers; i++ {
		reg.Add()
		go worker(reg, parent, jobs, st)
	}
	reg.Add()
	go producer(reg, parent, jobs, opt.Pace)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		st.Requests.Add(1)
		sum := sha256.Sum256([]byte(r.URL.Path))
		fmt.Fprintf(w, "%x\n", sum[:8])
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	addr := "http://" + ln.Addr().String() + "/"
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * opt.Clients, IdleConnTimeout: time.Minute}
	for i := 0; i < opt.Clients; i++ {
		reg.Add()
		go client(reg, parent, &http.Client{Transport: tr}, fmt.Sprintf("%sc%d", addr, i), opt.Pace, st)
	}
	reg.Add()
	go ticker(reg, parent, st)
	return st, addr
}

func worker(reg *fx.Registry, parent int64, jobs <-chan []byte, st *Stats) {
	reg.Here(fx.G{Role: "load_worker", Status: "waiting", Reason: "chan receive", Parent: parent})
	for job := range jobs {
		sum := sha256.Sum256(job)
		for i := 0; i < 20; i++ {
			sum = sha256.Sum256(sum[:])
		}
		st.Jobs.Add(1)
	}
}

func producer(reg *fx.Registry, parent int64, jobs chan<- []byte, pace time.Duration) {
	reg.Here(fx.G{Role: "load_producer", Status: "waiting", Reason: "sleep", Parent: parent})
	buf := make([]byte, 1024)
	for i := 0; ; i++ {
		buf[i%len(buf)]++
		jobs <- append([]byte(nil), buf...)
		time.Sleep(pace / 2)
	}
}

func client(reg *fx.Registry, parent int64, c *http.Client, url string, pace time.Duration, st *Stats) {
	reg.Here(fx.G{Role: "load_client", Status: "waiting", Reason: "IO wait", Parent: parent})
	for {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body) // drained and closed: the connection is reused
			resp.Body.Close()
		}
		time.Sleep(pace)
	}
}

func ticker(reg *fx.Registry, parent int64, st *Stats) {
	reg.Here(fx.G{Role: "load_ticker", Status: "waiting", Reason: "chan receive", Parent: parent})
	t := time.NewTicker(5 * time.Millisecond)
	var rearm func()
	rearm = func() { st.Ticks.Add(1); time.AfterFunc(7*time.Millisecond, rearm) }
	time.AfterFunc(7*time.Millisecond, rearm)
	for range t.C {
		st.Ticks.Add(1)
	}
}

// WaitBusy waits until the load has done some of everything (up to timeout).
func (st *Stats) WaitBusy(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st.Jobs.Load() >= 50 && st.Requests.Load() >= 50 && st.Ticks.Load() >= 10 {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
