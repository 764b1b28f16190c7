// Test program for src/gobin.c (tests/test_gobin.py). It is built by every
// Go toolchain the tests use, plain, stripped, PIE and with cgo, and has the
// shapes a symbolizer must get right: inlined calls (several levels deep),
// //go:noinline functions, methods on pointer receivers, closures, generic
// functions and a goroutine.
//
//	prog callers  print, for a few call sites, the raw pcs of runtime.Callers
//	              and the frames runtime.CallersFrames makes of them
//	prog idle     start blocked goroutines and idle Ms, print each thread's
//	              goroutine stack (runtime.Stack), then sleep until killed
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// sink keeps results alive so that the compiler does not drop the calls.
var sink int

// callers returns the logical frames of its caller and up: runtime.Callers
// and callers itself are skipped, so the first pc is a return address into
// the caller, often inside inlined code.
//
//go:noinline
func callers() []uintptr {
	pcs := make([]uintptr, 64)
	return pcs[:runtime.Callers(2, pcs)]
}

// leaf and mid are small enough to be inlined into noinlineOuter.
func leaf(x int) []uintptr {
	sink += x
	return callers()
}

func mid(x int) []uintptr {
	sink += x * 2
	return leaf(x + 1)
}

//go:noinline
func noinlineOuter(x int) []uintptr {
	sink += x
	return mid(x)
}

type counter struct {
	n  int
	mu sync.Mutex
}

// bump is inlined; run is not.
func (c *counter) bump() []uintptr {
	c.n++
	return callers()
}

//go:noinline
func (c *counter) run() []uintptr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bump()
}

// Number is a constraint for the generic functions below.
type Number interface {
	~int | ~int64 | ~float64
}

//go:noinline
func sum[T Number](xs []T) (T, []uintptr) {
	var s T
	for _, x := range xs {
		s += x
	}
	return s, callers()
}

func apply[T any](x T, f func(T) []uintptr) []uintptr {
	return f(x)
}

//go:noinline
func withClosure(k int) []uintptr {
	f := func(v int) []uintptr {
		sink += v * k
		return callers()
	}
	g := func(v int) []uintptr {
		return f(v + 1)
	}
	return apply(k, g)
}

//go:noinline
func inGoroutine() []uintptr {
	ch := make(chan []uintptr)
	go func() {
		ch <- mid(3)
	}()
	return <-ch
}

func printSite(name string, pcs []uintptr) {
	fmt.Printf("site %s\n", name)
	for _, pc := range pcs {
		fmt.Printf("pc 0x%x\n", pc)
	}
	frames := runtime.CallersFrames(pcs)
	for {
		fr, more := frames.Next()
		fmt.Printf("frame %s\t%s\t%d\t0x%x\n", fr.Function, fr.File, fr.Line, fr.Entry)
		if !more {
			break
		}
	}
	fmt.Printf("end\n")
}

func runCallers() {
	printSite("inlined", noinlineOuter(1))
	c := &counter{}
	printSite("method", c.run())
	_, pcs := sum([]int{1, 2, 3})
	printSite("generic_int", pcs)
	_, pcs = sum([]float64{1.5, 2.5})
	printSite("generic_float", pcs)
	printSite("closure", withClosure(4))
	printSite("goroutine", inGoroutine())
	printSite("cgo", cgoSite())
}

// pipeWriter keeps the pipe open: the reader below never sees EOF.
var pipeWriter *os.File

// readOne is inlined into blockInRead.
func readOne(fd int) {
	var b [1]byte
	syscall.Read(fd, b[:])
}

// blockInRead holds its thread in read(2) for good: a goroutine in a
// system call, whose stack the thread's own stack is.
//
//go:noinline
func blockInRead(fd int) {
	readOne(fd)
	sink++
}

// idle parks goroutines in several ways, keeps OS threads idle in futex
// sleeps and one in read(2), prints every goroutine's stack
// (runtime.Stack) and stays until killed.
func idle() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	pipeWriter = w
	go blockInRead(int(r.Fd())) // Fd() makes the descriptor blocking
	var mu sync.Mutex
	mu.Lock()
	ready := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() {
			ready <- struct{}{}
			mu.Lock() // blocks for good
		}()
	}
	for i := 0; i < 3; i++ {
		<-ready
	}
	go func() {
		select {}
	}()
	locked := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(locked)
		ch := make(chan int)
		<-ch // parks a goroutine that owns its thread: that M sleeps in futex
	}()
	<-locked
	time.Sleep(200 * time.Millisecond)
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	fmt.Printf("pid %d\n", os.Getpid())
	os.Stdout.Write(buf[:n])
	fmt.Printf("\nready\n")
	for {
		time.Sleep(time.Hour)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: prog callers|idle")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "callers":
		runCallers()
	case "idle":
		idle()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
