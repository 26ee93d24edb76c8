package mobilesdk

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/mobile-sdk/localstore/localstoretest"
)

// TestLocalStoreConformance holds the native SQLite store to the suite the
// browser's IndexedDB store also runs (mobile-sdk/localstore/idb).
func TestLocalStoreConformance(t *testing.T) {
	localstoretest.Run(t, func(t *testing.T) func() (localstore.Store, error) {
		path := filepath.Join(t.TempDir(), DBFile)
		key := bytes.Repeat([]byte{7}, KeySize)
		return func() (localstore.Store, error) { return openLocal(path, key) }
	})
}
