// Command goroutines is tangle's goroutine zoo: goroutines blocked in every
// common way side by side, so that `tangle goroutines PID` can be compared
// with the Go runtime's own dump of the same process.
//
//	goroutines -out DIR [-n N]
//
// Once every goroutine is parked it writes DIR/dump.txt, dump-debug1.txt,
// dump-system.txt and truth.json (see internal/fixture), prints "ready" and
// blocks until it is killed. -n N adds N idle goroutines (benchmarks).
//
// Source markers, read by the tests: "at:ROLE" ends the line where goroutine
// ROLE blocks (its innermost frame in this file), "spawn:ROLE" the go
// statement that created it (its "created by" line).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fx "tangle/gofixtures/internal/fixture"
)

var (
	reg fx.Registry
	// forever is never sent on nor closed: receiving from it blocks for good.
	forever = make(chan int)
	// Kept reachable so that no finalizer closes them.
	keep []any
	// extraStarters is filled by variants of the program (cgo.go).
	extraStarters []func(parent int64)
	spins         atomic.Uint64
)

func main() {
	out := flag.String("out", "", "directory for the dumps and truth.json (none if empty)")
	n := flag.Int("n", 0, "extra idle goroutines")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: goroutines [-out DIR] [-n N]")
		os.Exit(2)
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	startZoo()
	for _, start := range extraStarters {
		start(1)
	}
	startIdle(*n)
	reg.WaitStarted()
	reg.Add()
	reg.Here(fx.G{Role: "main", Reason: "select (no cases)", Stable: true})
	go reg.Finish("goroutines", *out, 60*time.Second)
	select {} // at:main
}

// startZoo starts one goroutine per way of blocking; it runs on goroutine 1.
func startZoo() {
	ch := func() chan int { c := make(chan int); keep = append(keep, c); return c }

	a := ch()
	reg.Add()
	go recvForever(a) // spawn:chan_recv
	b := ch()
	reg.Add()
	go sendForever(b) // spawn:chan_send
	reg.Add()
	go selectForever(ch(), ch(), make(chan string)) // spawn:select
	reg.Add()
	go func() { // spawn:select_nocases
		reg.Here(fx.G{Role: "select_nocases", Reason: "select (no cases)", Stable: true, Parent: 1})
		select {} // at:select_nocases
	}()
	reg.Add()
	go nilRecv() // spawn:nil_recv
	reg.Add()
	go nilSend() // spawn:nil_send

	// Locks: each is held forever by a goroutine that then waits on `forever`.
	var mu sync.Mutex
	held := make(chan struct{})
	reg.Add()
	go holdMutex(&mu, held) // spawn:mutex_holder
	<-held
	reg.Add()
	go lockMutex(&mu) // spawn:mutex_wait

	var rw1, rw2 sync.RWMutex
	held = make(chan struct{})
	reg.Add()
	go holdWrite(&rw1, held) // spawn:rw_writer
	<-held
	reg.Add()
	go rlockBlocked(&rw1) // spawn:rw_rlock_wait
	held = make(chan struct{})
	reg.Add()
	go holdRead(&rw2, held) // spawn:rw_reader
	<-held
	reg.Add()
	go lockBlocked(&rw2) // spawn:rw_lock_wait
	keep = append(keep, &mu, &rw1, &rw2)

	var wg sync.WaitGroup
	wg.Add(1)
	reg.Add()
	go waitGroup(&wg) // spawn:wg_wait
	cond := sync.NewCond(&sync.Mutex{})
	reg.Add()
	go condWait(cond) // spawn:cond_wait
	keep = append(keep, &wg, cond)

	reg.Add()
	go sleeper() // spawn:sleep

	// IO wait: an Accept that never returns, and the server side of a
	// connection whose client never writes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	reg.Add()
	go acceptor(ln) // spawn:accept
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	reg.Add()
	go connReader(ln2) // spawn:conn_read
	client, err := net.Dial("tcp", ln2.Addr().String())
	if err != nil {
		panic(err)
	}
	keep = append(keep, ln, ln2, client)

	reg.Add()
	go spin() // spawn:spinner

	reg.Add()
	go lockedThread() // spawn:locked

	reg.Add()
	go labelled() // spawn:label_do
	reg.Add()
	go labelSetter() // spawn:label_set
	reg.Add()
	go manyLabels() // spawn:label_many

	reg.Add()
	go chain1(1) // spawn:chain1

	w := &worker{name: "w1", jobs: ch()}
	reg.Add()
	go w.run() // spawn:method_ptr
	var r ring
	reg.Add()
	go r.wait(ch()) // spawn:method_value
	reg.Add()
	go func() { // spawn:closure_outer
		me := fx.Goid()
		reg.Add()
		go func() { // spawn:closure_inner
			reg.Here(fx.G{Role: "closure_inner", Reason: "chan receive", Stable: true,
				Parent: me, Chan: fx.Addr(forever)})
			<-forever // at:closure_inner
		}()
		reg.Here(fx.G{Role: "closure_outer", Reason: "chan receive", Stable: true, Parent: 1,
			Chan: fx.Addr(forever)})
		<-forever // at:closure_outer
	}()

	reg.Add()
	go genericWait(ch(), "generic_int", 1) // spawn:generic_int
	reg.Add()
	go genericWait(make(chan string), "generic_string", 1) // spawn:generic_string
	bx := &box[float64]{ch: make(chan float64)}
	reg.Add()
	go bx.take() // spawn:generic_method

	rfd, wfd := fx.Pipe()
	keep = append(keep, wfd)
	reg.Add()
	go rawRead(rfd) // spawn:raw_syscall
}

func recvForever(ch chan int) {
	reg.Here(fx.G{Role: "chan_recv", Reason: "chan receive", Stable: true, Parent: 1, Chan: fx.Addr(ch)})
	<-ch // at:chan_recv
}

func sendForever(ch chan int) {
	reg.Here(fx.G{Role: "chan_send", Reason: "chan send", Stable: true, Parent: 1, Chan: fx.Addr(ch)})
	ch <- 1 // at:chan_send
}

func selectForever(a, b chan int, c chan string) {
	reg.Here(fx.G{Role: "select", Reason: "select", Stable: true, Parent: 1})
	select { // at:select
	case <-a:
	case v := <-b:
		_ = v
	case c <- "never":
	}
}

func nilRecv() {
	var c chan int
	reg.Here(fx.G{Role: "nil_recv", Reason: "chan receive (nil chan)", Stable: true, Parent: 1})
	<-c // at:nil_recv
}

func nilSend() {
	var c chan int
	reg.Here(fx.G{Role: "nil_send", Reason: "chan send (nil chan)", Stable: true, Parent: 1})
	c <- 1 // at:nil_send
}

func holdMutex(mu *sync.Mutex, held chan struct{}) {
	mu.Lock()
	close(held)
	reg.Here(fx.G{Role: "mutex_holder", Reason: "chan receive", Stable: true, Parent: 1,
		Chan: fx.Addr(forever)})
	<-forever // at:mutex_holder
}

func lockMutex(mu *sync.Mutex) {
	reg.Here(fx.G{Role: "mutex_wait", Reason: "sync.Mutex.Lock", Stable: true, Parent: 1})
	mu.Lock() // at:mutex_wait
}

func holdWrite(rw *sync.RWMutex, held chan struct{}) {
	rw.Lock()
	close(held)
	reg.Here(fx.G{Role: "rw_writer", Reason: "chan receive", Stable: true, Parent: 1,
		Chan: fx.Addr(forever)})
	<-forever // at:rw_writer
}

func rlockBlocked(rw *sync.RWMutex) {
	reg.Here(fx.G{Role: "rw_rlock_wait", Reason: "sync.RWMutex.RLock", Stable: true, Parent: 1})
	rw.RLock() // at:rw_rlock_wait
}

func holdRead(rw *sync.RWMutex, held chan struct{}) {
	rw.RLock()
	close(held)
	reg.Here(fx.G{Role: "rw_reader", Reason: "chan receive", Stable: true, Parent: 1,
		Chan: fx.Addr(forever)})
	<-forever // at:rw_reader
}

func lockBlocked(rw *sync.RWMutex) {
	reg.Here(fx.G{Role: "rw_lock_wait", Reason: "sync.RWMutex.Lock", Stable: true, Parent: 1})
	rw.Lock() // at:rw_lock_wait
}

func waitGroup(wg *sync.WaitGroup) {
	reg.Here(fx.G{Role: "wg_wait", Reason: fx.WaitGroupReason(), Stable: true, Parent: 1})
	wg.Wait() // at:wg_wait
}

func condWait(c *sync.Cond) {
	c.L.Lock()
	reg.Here(fx.G{Role: "cond_wait", Reason: "sync.Cond.Wait", Stable: true, Parent: 1})
	c.Wait() // at:cond_wait
}

func sleeper() {
	reg.Here(fx.G{Role: "sleep", Reason: "sleep", Stable: true, Parent: 1})
	time.Sleep(1000 * time.Hour) // at:sleep
}

func acceptor(ln net.Listener) {
	reg.Here(fx.G{Role: "accept", Reason: "IO wait", Stable: true, Parent: 1})
	ln.Accept() // at:accept
	panic("accepted")
}

func connReader(ln net.Listener) {
	conn, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	reg.Here(fx.G{Role: "conn_read", Reason: "IO wait", Stable: true, Parent: 1})
	var buf [16]byte
	conn.Read(buf[:]) // at:conn_read
	panic("read returned")
}

// spin never blocks: it is running or runnable whenever it is looked at.
func spin() {
	reg.Here(fx.G{Role: "spinner", Status: "running", Reason: "running", Parent: 1})
	for {
		spins.Add(1) // at:spinner
	}
}

func lockedThread() {
	runtime.LockOSThread()
	reg.Here(fx.G{Role: "locked", Reason: "chan receive", Locked: true, Stable: true, Parent: 1,
		Chan: fx.Addr(forever), Tid: syscall.Gettid()})
	<-forever // at:locked
}

// labelled: labels set with pprof.Do, nested (an inner value overrides an outer
// one), and inherited by the goroutines started under them.
func labelled() {
	me := fx.Goid()
	outer := map[string]string{"app": "zoo", "role": "outer"}
	inner := map[string]string{"app": "zoo", "role": "inner", "nested": "yes"}
	pprof.Do(context.Background(), pprof.Labels("app", "zoo", "role", "outer"), func(ctx context.Context) {
		reg.Add()
		go labelChild("label_child", outer, me) // spawn:label_child
		pprof.Do(ctx, pprof.Labels("role", "inner", "nested", "yes"), func(context.Context) {
			reg.Add()
			go labelChild("label_grandchild", inner, me) // spawn:label_grandchild
			reg.Here(fx.G{Role: "label_do", Reason: "chan receive", Stable: true, Parent: 1,
				Labels: inner, Chan: fx.Addr(forever)})
			<-forever // at:label_do
		})
	})
}

func labelChild(role string, labels map[string]string, parent int64) {
	reg.Here(fx.G{Role: role, Reason: "chan receive", Stable: true, Parent: parent, Labels: labels,
		Chan: fx.Addr(forever)})
	<-forever // at:label_child at:label_grandchild at:label_set_child
}

// labelSetter: labels set with SetGoroutineLabels, with values that need
// escaping in JSON and in Go's quoting.
func labelSetter() {
	me := fx.Goid()
	labels := map[string]string{
		"set":   "yes",
		"quote": `say "hi" \ bye`,
		"utf8":  "héllo wörld ✓",
		"ctl":   "tab\there\nnewline",
		"empty": "",
	}
	var kv []string
	for k, v := range labels {
		kv = append(kv, k, v)
	}
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(kv...)))
	reg.Add()
	go labelChild("label_set_child", labels, me) // spawn:label_set_child
	reg.Here(fx.G{Role: "label_set", Reason: "chan receive", Stable: true, Parent: 1, Labels: labels,
		Chan: fx.Addr(forever)})
	<-forever // at:label_set
}

// manyLabels: more labels than one map bucket holds (Go <= 1.23 keeps them in a map).
func manyLabels() {
	labels := map[string]string{}
	var kv []string
	for i := 0; i < 12; i++ {
		k, v := fmt.Sprintf("key%02d", i), fmt.Sprintf("value-%d", i*i)
		labels[k] = v
		kv = append(kv, k, v)
	}
	pprof.Do(context.Background(), pprof.Labels(kv...), func(context.Context) {
		reg.Here(fx.G{Role: "label_many", Reason: "chan receive", Stable: true, Parent: 1,
			Labels: labels, Chan: fx.Addr(forever)})
		<-forever // at:label_many
	})
}

// chain1 -> chain2 -> chain3: "created by" three deep, each with its parent's goid.
func chain1(parent int64) {
	me := fx.Goid()
	reg.Add()
	go chain2(me) // spawn:chain2
	reg.Here(fx.G{Role: "chain1", Reason: "chan receive", Stable: true, Parent: parent, Chan: fx.Addr(forever)})
	<-forever // at:chain1
}

func chain2(parent int64) {
	me := fx.Goid()
	reg.Add()
	go chain3(me) // spawn:chain3
	reg.Here(fx.G{Role: "chain2", Reason: "chan receive", Stable: true, Parent: parent, Chan: fx.Addr(forever)})
	<-forever // at:chain2
}

func chain3(parent int64) {
	reg.Here(fx.G{Role: "chain3", Reason: "chan receive", Stable: true, Parent: parent, Chan: fx.Addr(forever)})
	<-forever // at:chain3
}

type worker struct {
	name string
	jobs chan int
}

func (w *worker) run() {
	reg.Here(fx.G{Role: "method_ptr", Reason: "chan receive", Stable: true, Parent: 1, Chan: fx.Addr(w.jobs)})
	<-w.jobs // at:method_ptr
}

type ring [4]int

func (r ring) wait(ch chan int) {
	reg.Here(fx.G{Role: "method_value", Reason: "chan receive", Stable: true, Parent: 1, Chan: fx.Addr(ch)})
	<-ch // at:method_value
}

func genericWait[T any](ch chan T, role string, parent int64) {
	reg.Here(fx.G{Role: role, Reason: "chan receive", Stable: true, Parent: parent, Chan: fx.Addr(ch)})
	<-ch // at:generic_int at:generic_string
}

type box[T any] struct{ ch chan T }

func (b *box[T]) take() T {
	reg.Here(fx.G{Role: "generic_method", Reason: "chan receive", Stable: true, Parent: 1, Chan: fx.Addr(b.ch)})
	return <-b.ch // at:generic_method
}

// rawRead blocks its thread in read(2) on a blocking pipe: status "syscall".
func rawRead(fd int) {
	reg.Here(fx.G{Role: "raw_syscall", Status: "syscall", Reason: "syscall", Stable: true, Parent: 1, Fd: fd})
	var b [1]byte
	syscall.Read(fd, b[:]) // at:raw_syscall
	panic("read returned")
}

var idleCh = make(chan int)

func startIdle(n int) {
	reg.SetIdle("chan receive", fx.Addr(idleCh))
	for i := 0; i < n; i++ {
		reg.Add()
		go idle() // spawn:idle
	}
}

func idle() {
	reg.HereIdle()
	<-idleCh // at:idle
}
