//go:build !js

package mobilesdk

import (
	"fmt"
	"os"
	"path/filepath"
)

// DBFile is the name of the local database inside the state directory.
const DBFile = "joinedup.db"

// Open opens (or creates) the phone's state in dir, encrypted with key (32
// bytes from the platform keystore). platform is "android", "ios" or "sim".
func Open(dir string, key []byte, platform string) (*Client, error) {
	return open(dir, key, platform, options{})
}

func open(dir string, key []byte, platform string, o options) (*Client, error) {
	o.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st, err := openLocalAt(filepath.Join(dir, DBFile), key, o.now)
	if err != nil {
		return nil, err
	}
	return newClient(st, platform, o)
}
