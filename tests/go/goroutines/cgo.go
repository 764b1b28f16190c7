//go:build cgo && tanglecgo

// The cgo variant (CGO_ENABLED=1, -tags tanglecgo): the same zoo in an
// externally linked binary, plus a goroutine blocked inside a C function.

package main

/*
#include <unistd.h>

static int block_in_c(int fd)
{
	char c;
	return (int)read(fd, &c, 1);
}
*/
import "C"

import fx "tangle/gofixtures/internal/fixture"

func init() {
	extraStarters = append(extraStarters, func(parent int64) {
		rfd, wfd := fx.Pipe()
		keep = append(keep, wfd)
		reg.Add()
		go cgoBlock(rfd, parent) // spawn:cgo_call
	})
}

// cgoBlock is in a cgo call: Go shows it as status "syscall".
func cgoBlock(fd int, parent int64) {
	reg.Here(fx.G{Role: "cgo_call", Status: "syscall", Reason: "syscall", Stable: true, Parent: parent, Fd: fd})
	C.block_in_c(C.int(fd)) // at:cgo_call
	panic("read returned")
}
