package portal

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// phone is an engine replica standing in for a worker's phone: it loads
// record states from the store and its changesets are imported into it,
// exactly as a sync push would apply them.
type phone struct {
	tb     testing.TB
	db     *sqlite.DB
	person string
	store  *syncengine.MemStore
	rep    *syncengine.Replica
}

func newPhone(tb testing.TB, db *sqlite.DB, personID string) *phone {
	tb.Helper()
	id, err := syncengine.NewReplicaID(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	st := syncengine.NewMemStore()
	r, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return testNow }, Rand: rand.Reader, Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	return &phone{tb: tb, db: db, person: personID, store: st, rep: r}
}

// load copies the server's current state of records onto the phone.
func (ph *phone) load(ids ...syncengine.RecordID) {
	ph.tb.Helper()
	for _, id := range ids {
		r, err := ph.db.RecordState(context.Background(), string(id))
		if err != nil || r == nil {
			ph.tb.Fatalf("load %s: %v (found %v)", id, err, r != nil)
		}
		ph.store.Put(r)
	}
}

// edit saves on the phone and returns the changeset (not yet pushed).
func (ph *phone) edit(fn func(*syncengine.Txn) error) *syncengine.Changeset {
	ph.tb.Helper()
	cs, err := ph.rep.Edit(ph.person, fn)
	if err != nil {
		ph.tb.Fatalf("phone edit: %v", err)
	}
	return cs
}

// push applies changesets to the server store.
func push(tb testing.TB, db *sqlite.DB, css ...*syncengine.Changeset) {
	tb.Helper()
	if _, err := db.Import(context.Background(), css); err != nil {
		tb.Fatalf("push: %v", err)
	}
}
