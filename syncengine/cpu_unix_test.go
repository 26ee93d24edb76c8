//go:build unix

package syncengine_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU this process has used, GC workers included.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
