// Command layout uses the sync types and a channel so that their DWARF is in the
// binary: tests/test_goreach.py builds it with every toolchain and compares
// src/golayout_obj.c's table with the DWARF (gdb ptype/o gave the table).
package main

import (
	"fmt"
	"sync"
)

var (
	mu   sync.Mutex
	rw   sync.RWMutex
	wg   sync.WaitGroup
	cond = sync.NewCond(&mu)
	ch   = make(chan int, 3)
)

func main() {
	mu.Lock()
	mu.Unlock()
	rw.RLock()
	rw.RUnlock()
	wg.Add(1)
	wg.Done()
	wg.Wait()
	cond.Broadcast()
	ch <- 1
	fmt.Println(<-ch)
}
