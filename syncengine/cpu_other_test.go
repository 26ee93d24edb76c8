//go:build !unix

package syncengine_test

import (
	"testing"
	"time"
)

// processCPU is not measured here (no getrusage): -1.
func processCPU(testing.TB) time.Duration { return -1 }
