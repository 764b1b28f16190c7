// Command idle_pool: worker pools with nothing to do, which is not a bug.
// Their workers wait on their jobs channel ("chan receive") that nobody has
// sent on for a while, exactly like leaked consumers would, but the program
// still holds every pool, so a job can come any time: one pool is in a
// global registry (a map on the heap, reached from a global), the other
// only on main's stack (main closes it after Serve). Nothing here is
// stuck; a detector that tells idle from leaked by reachability must report
// nothing.
package main

import (
	"flag"
	"sync"
	"time"

	fx "tangle/gofixtures/internal/fixture"
	"tangle/gofixtures/internal/load"
)

var reg fx.Registry

// pool runs jobs on n workers until closed.
type pool struct {
	name string
	jobs chan func()
	done sync.WaitGroup
}

// registry: pools by name, as a server keeps its long-lived pools.
var registry struct {
	mu     sync.Mutex
	byName map[string]*pool
}

func newPool(name, role string, n int) *pool {
	p := &pool{name: name, jobs: make(chan func())}
	for i := 0; i < n; i++ {
		reg.Add()
		p.done.Add(1)
		go p.worker(role) // spawn:idle_global spawn:idle_local
	}
	return p
}

func (p *pool) worker(role string) {
	defer p.done.Done()
	reg.Here(fx.G{Role: role, Reason: "chan receive", Stable: true, Parent: 1, Chan: fx.Addr(p.jobs)})
	for job := range p.jobs { // at:idle_global at:idle_local
		job()
	}
}

// run hands one job to the pool and waits for it.
func (p *pool) run(job func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	p.jobs <- func() { defer wg.Done(); job() }
	wg.Wait()
}

func (p *pool) close() {
	close(p.jobs)
	p.done.Wait()
}

func main() {
	out := fx.OutFlag()
	flag.Parse()
	st, _ := load.Start(&reg, load.Options{})

	global := newPool("global", "idle_global", 3)
	registry.mu.Lock()
	registry.byName = map[string]*pool{global.name: global}
	registry.mu.Unlock()
	local := newPool("local", "idle_local", 3)

	// each pool works a little, then idles: nobody sends on its channel again
	for i := 0; i < 6; i++ {
		global.run(func() { time.Sleep(time.Millisecond) })
		local.run(func() { time.Sleep(time.Millisecond) })
	}
	st.WaitBusy(10 * time.Second)
	reg.Serve("stuck/idle_pool", *out)
	local.close() // not reached (Serve exits on SIGTERM), but local is live until here
}
