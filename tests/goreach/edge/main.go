// Command edge: goroutines blocked on channels held in every way goreach
// must see (and a few it must not), for tests/test_goreach.py. Each blocked
// goroutine registers its goid and the verdict expected for its channel;
// once all are parked and two GCs ran, the program prints one JSON line
// {"pid":..,"expect":{"GOID":"reachable"|"unreachable",...}} and waits.
package main

import (
	"encoding/json"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var (
	mu     sync.Mutex
	expect = map[string]string{}
	ready  sync.WaitGroup
)

var goidRe = regexp.MustCompile(`^goroutine (\d+) `)

func goid() int64 {
	var buf [64]byte
	m := goidRe.FindSubmatch(buf[:runtime.Stack(buf[:], false)])
	id, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return id
}

// waitOn registers the caller as blocked on ch with the expected verdict, then blocks.
func waitOn(ch chan int, verdict string) {
	mu.Lock()
	expect[strconv.FormatInt(goid(), 10)] = verdict
	mu.Unlock()
	ready.Done()
	<-ch
	panic("woken")
}

func blocked(ch chan int, verdict string) {
	ready.Add(1)
	go waitOn(ch, verdict)
}

// holders keep channels alive in various ways, each until never.
var (
	never     = make(chan int) // reachable from data/bss: the holders block on it
	global    any              // an interface in a global
	syncMap   sync.Map
	bigArray  *[8192]*chan int // a large object (one per span): its type from mspan.largeType
	headerObj *struct {        // a 600-byte object: its type in its malloc header
		pad [70]int
		ch  chan int
	}
	chanMap  = map[string]chan int{}
	anySlice []any
	small    *struct { // a 300-byte object: heap bits at the end of its span
		pad  [30]int
		ch   chan int
		tail [6]int
	}
	chanOfChans = make(chan chan int, 4) // held in another channel's buffer
	list        *node
	closure     func()
	tiled       *[100]struct { // an array of a small type tiled in a header object
		n  int
		ch chan int
	}
	bigTiled []struct { // a large array of a 32-byte type: largeType, tiled
		x  [3]int
		ch chan int
	}
)

type node struct {
	next *node
	ch   chan int
}

//go:noinline
func holdOnStackObject(ch chan int) {
	// an address-taken local: a stack object, scanned because a live slot points into it
	s := struct {
		pad [4]int
		ch  chan int
	}{ch: ch}
	p := &s
	ready.Done()
	<-never
	runtime.KeepAlive(p)
}

//go:noinline
func holdInDefer(ch chan int) {
	// more than 8 defers: not open-coded, the records live on the stack (g._defer)
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer close(ch)
	ready.Done()
	<-never
}

//go:noinline
func holdInSyscall(ch chan int, fd int) {
	var b [1]byte
	ready.Done()
	syscall.Read(fd, b[:]) // blocks in the kernel: the goroutine is in a system call
	close(ch)
}

func spin(ch chan int, stop *bool) {
	ready.Done()
	for !*stop {
		runtime.Gosched()
	}
	close(ch)
}

//go:noinline
func leakedChain() {
	// a waits on x (nobody holds x) and holds y; b waits on y: both leaked
	x, y := make(chan int), make(chan int)
	ready.Add(1)
	go func() {
		mu.Lock()
		expect[strconv.FormatInt(goid(), 10)] = "unreachable"
		mu.Unlock()
		ready.Done()
		<-x
		close(y)
	}()
	blocked(y, "unreachable")
}

//go:noinline
func liveChain() {
	// a waits on x (held by a global) and holds y; b waits on y: both reachable
	x, y := make(chan int), make(chan int)
	syncMap.Store("x", x)
	ready.Add(1)
	go func() {
		mu.Lock()
		expect[strconv.FormatInt(goid(), 10)] = "reachable"
		mu.Unlock()
		ready.Done()
		<-x
		close(y)
	}()
	blocked(y, "reachable")
}

func main() {
	var r, w [2]int
	if err := syscall.Pipe(r[:]); err != nil {
		panic(err)
	}
	_ = w
	stop := new(bool)

	c1 := make(chan int)
	global = c1
	blocked(c1, "reachable")

	c2 := make(chan int)
	syncMap.Store("c2", c2)
	blocked(c2, "reachable")

	c3 := make(chan int)
	bigArray = new([8192]*chan int)
	bigArray[8000] = &c3
	blocked(c3, "reachable")

	c4 := make(chan int)
	headerObj = new(struct {
		pad [70]int
		ch  chan int
	})
	headerObj.ch = c4
	blocked(c4, "reachable")

	c5 := make(chan int)
	ready.Add(1)
	go holdOnStackObject(c5)
	blocked(c5, "reachable")

	c6 := make(chan int)
	ready.Add(1)
	go holdInDefer(c6)
	blocked(c6, "reachable")

	c7 := make(chan int)
	ready.Add(1)
	go holdInSyscall(c7, r[0])
	blocked(c7, "reachable")

	c8 := make(chan int)
	ready.Add(1)
	go spin(c8, stop)
	blocked(c8, "reachable")

	c9 := make(chan int)
	time.AfterFunc(time.Hour, func() { close(c9) })
	blocked(c9, "reachable")

	c11 := make(chan int)
	chanMap["c11"] = c11
	blocked(c11, "reachable")

	c12 := make(chan int)
	anySlice = []any{1, "two", c12}
	blocked(c12, "reachable")

	c13 := make(chan int)
	small = &struct {
		pad  [30]int
		ch   chan int
		tail [6]int
	}{ch: c13}
	blocked(c13, "reachable")

	c14 := make(chan int)
	chanOfChans <- c14
	blocked(c14, "reachable")

	c15 := make(chan int)
	list = &node{next: &node{next: &node{ch: c15}}}
	blocked(c15, "reachable")

	c16 := make(chan int)
	closure = func() { close(c16) }
	blocked(c16, "reachable")

	c17 := make(chan int)
	tiled = new([100]struct {
		n  int
		ch chan int
	})
	tiled[77].ch = c17
	blocked(c17, "reachable")

	c18 := make(chan int)
	bigTiled = make([]struct {
		x  [3]int
		ch chan int
	}, 2000)
	bigTiled[1999].ch = c18
	blocked(c18, "reachable")

	// a timer channel nobody else holds: the runtime's timer heap does (go1.23+ only while
	// a goroutine waits on it)
	ready.Add(1)
	go func() {
		mu.Lock()
		expect[strconv.FormatInt(goid(), 10)] = "reachable"
		mu.Unlock()
		ready.Done()
		<-time.After(time.Hour)
		panic("woken")
	}()

	c10 := make(chan int) // nobody but its waiters
	blocked(c10, "unreachable")
	blocked(c10, "unreachable")

	leakedChain()
	liveChain()

	ready.Wait()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	mu.Lock()
	out, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "expect": expect})
	mu.Unlock()
	os.Stdout.Write(append(out, '\n'))
	<-never
	*stop = true
}
