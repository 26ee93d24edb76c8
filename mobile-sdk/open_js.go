//go:build js

package mobilesdk

import "github.com/joinedup/joinedup/mobile-sdk/localstore"

// OpenStore opens the client over st: in the browser, IndexedDB
// (localstore/idb). It is the same Client, sync loop and merge as the
// native apps'; only the store and the link (fetch) differ. (GOOS=js only:
// gomobile cannot bind an interface parameter, and the native apps use Open.)
func OpenStore(st localstore.Store, platform string) (*Client, error) {
	return newClient(st, platform, options{})
}
