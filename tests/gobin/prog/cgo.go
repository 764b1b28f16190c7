//go:build gobincgo

package main

// The cgo variant: importing "C" links with the external linker, which
// gives the binary a PT_TLS segment and runtime.tlsg.

/*
static int twice(int x) { return 2 * x; }
*/
import "C"

//go:noinline
func cgoSite() []uintptr {
	sink += int(C.twice(3))
	return callers()
}
