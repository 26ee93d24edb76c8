//go:build js

package mobilesdk

import (
	"net/http"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
)

// OpenStore opens the client over st: in the browser, IndexedDB
// (localstore/idb). It is the same Client, sync loop and merge as the
// native apps'; only the store differs. (GOOS=js only: gomobile cannot bind
// an interface parameter, and the native apps use Open.)
func OpenStore(st localstore.Store, platform string) (*Client, error) {
	return newClient(st, platform, options{http: &http.Client{Timeout: 60 * time.Second, Transport: omitCredentials{}}})
}

// omitCredentials sends requests through the browser's fetch without its
// cookies (the device credential is the bearer token; a portal session in
// the same browser must not ride along).
type omitCredentials struct{}

func (omitCredentials) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("js.fetch:credentials", "omit")
	return http.DefaultTransport.RoundTrip(r)
}
