//go:build !gobincgo

package main

// cgoSite is the callers site of the cgo build; without cgo it is an
// ordinary inlined call.
func cgoSite() []uintptr {
	return callers()
}
