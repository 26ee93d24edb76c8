package idb

import (
	"fmt"
	"testing"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/mobile-sdk/localstore/localstoretest"
)

// TestConformance runs in the browser (see browser_test.go).
func TestConformance(t *testing.T) {
	n := 0
	localstoretest.Run(t, func(t *testing.T) func() (localstore.Store, error) {
		n++
		name := fmt.Sprintf("conformance-%d", n)
		return func() (localstore.Store, error) { return Open(name) }
	})
}
