package sqlite

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/joinedup/joinedup/server/domain"
)

// Every device request starts by authenticating its credential: a read
// transaction of four statements (the device, its person, the teams the
// person supervises) on a read connection whose page cache the last commit
// emptied. authCache keeps what the last one found, keyed by the
// credential's hash, and trusts it only while the database's auth_version
// (migration 0190) is the one read with it. Triggers move auth_version on
// any change to devices (but the bookkeeping each sync writes), people or
// team_supervisors, by this process or another one on the same file (the
// admin CLI), so a revocation, a deactivation, a move to another team or a
// re-enrolment is seen by the very next request; a hit costs one statement.
//
// Only active devices are kept: a revoked one always takes the full path,
// which audits the contact and tells it to wipe. Unknown credentials are
// never kept, so guessing fills nothing.
type authCache struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]authEntry
	hits atomic.Int64 // tests look at it
}

type authEntry struct {
	version int64
	device  domain.Device
	person  domain.Person
}

// authCacheMax bounds the cache; past it an arbitrary entry makes room (a
// device pushed out just pays the full read again).
const authCacheMax = 20000

func (c *authCache) get(key [sha256.Size]byte, version int64) (domain.Device, domain.Person, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || e.version != version {
		return domain.Device{}, domain.Person{}, false
	}
	c.hits.Add(1)
	return e.device, clonePerson(e.person), true
}

func (c *authCache) put(key [sha256.Size]byte, version int64, d domain.Device, p domain.Person) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[sha256.Size]byte]authEntry{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= authCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = authEntry{version: version, device: d, person: clonePerson(p)}
}

// clonePerson copies what a caller could change in place, so no caller
// alters a cached entry.
func clonePerson(p domain.Person) domain.Person {
	p.Supervises = slices.Clone(p.Supervises)
	p.Hours = slices.Clone(p.Hours)
	return p
}

// deviceHolder strips from a device's person what no device request may
// use: the person's staff sign-in secrets never sit in the cache.
func deviceHolder(p domain.Person) domain.Person {
	p.PasswordHash, p.TOTPSecret = "", ""
	return p
}
