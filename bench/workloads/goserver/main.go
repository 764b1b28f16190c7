// goserver: a goroutine-heavy HTTP server and its clients in one process.
// A net/http server listens on 127.0.0.1:0; its handler hands each request
// to a pool of 32 worker goroutines over a channel and parks until the
// worker answers on a per-request channel, then writes a small body. 200
// client goroutines, each with its own keep-alive connection, GET it in a
// loop for SECONDS. So about 430 goroutines (200 clients, 200 server
// connections, 32 workers, plus the runtime's) park and wake on network
// polls and channels all the time. Prints one JSON line:
// {"ops": requests completed, "ops_per_s": ..., "seconds": ..., "errors": ...}.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type job struct {
	n     int
	reply chan int
}

func worker(jobs <-chan job) {
	for j := range jobs {
		j.reply <- j.n * 2
	}
}

func main() {
	seconds := flag.Float64("seconds", 3, "how long to run")
	clients := flag.Int("clients", 200, "client goroutines (one keep-alive connection each)")
	workers := flag.Int("workers", 32, "worker goroutines behind the handler")
	flag.Parse()

	jobs := make(chan job)
	for i := 0; i < *workers; i++ {
		go worker(jobs)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan int, 1)
		jobs <- job{n: len(r.URL.Path), reply: reply}
		v := <-reply
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok "+strconv.Itoa(v)+"\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(ln, mux)
	url := "http://" + ln.Addr().String() + "/work"

	var ops, errs atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One connection per client, kept alive across requests.
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1,
				DisableCompression: true}}
			for !stop.Load() {
				resp, err := c.Get(url)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ops.Add(1)
				} else {
					errs.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	stop.Store(true)
	el := time.Since(start).Seconds()
	n := ops.Load()
	wg.Wait()
	fmt.Printf("{\"ops\": %d, \"ops_per_s\": %.1f, \"seconds\": %.3f, \"errors\": %d}\n",
		n, float64(n)/el, el, errs.Load())
}
