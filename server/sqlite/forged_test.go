package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// TestForgedQuarantineRowsNoLongerBlockTheirVictim: quarantine rows left by
// a device that pushed under another device's replica id (before replica ids
// were checked) are closed by migration 0040, and the victim's save at that
// counter is then applied, not answered "quarantined".
func TestForgedQuarantineRowsNoLongerBlockTheirVictim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	open := func() *sqlite.DB {
		db := sqlite.NewDB(path)
		db.Now = func() time.Time { return now }
		must(t, db.Open())
		return db
	}
	db := open()
	mustOrg(t, db)
	ctx := context.Background()
	must(t, db.UpsertPerson(ctx, domain.Person{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_b"}))
	victim := enrol(t, db, "w1")
	attacker := enrol(t, db, "w2")
	// The row the old server wrote: the victim's replica, the attacker's device.
	_, err := db.SQL().Exec(`INSERT INTO quarantine (device_id, replica_id, start, code, message, body, created) VALUES (?, ?, 1, 'forbidden', 'x', x'00', ?)`,
		attacker.DeviceID, victim.ReplicaID, now.Format(sqlite.TimeLayout))
	must(t, err)
	_, err = db.SQL().Exec(`DELETE FROM migrations WHERE n = 40`)
	must(t, err)
	must(t, db.Close())
	db = open()
	defer db.Close()

	id, err := syncengine.ParseReplicaID(victim.ReplicaID)
	must(t, err)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return now }, Rand: fixedRand{}, Store: syncengine.NewMemStore()})
	must(t, err)
	cs, err := rep.Edit("w1", func(tx *syncengine.Txn) error {
		x, err := tx.Create(syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": now.Add(-time.Hour)} {
			if err := tx.Set(x, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	dev, err := db.Device(ctx, victim.DeviceID)
	must(t, err)
	p, err := db.Person(ctx, "w1")
	must(t, err)
	res, err := db.Sync(ctx, domain.SyncRequest{Device: dev, Person: p, Changesets: []*syncengine.Changeset{cs}, NoPull: true})
	must(t, err)
	if res.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("victim's save: %+v", res.Results[0])
	}
}

func enrol(t *testing.T, db *sqlite.DB, person string) domain.Enrolment {
	t.Helper()
	code, _, err := db.IssueEnrolmentCode(context.Background(), person, "s1")
	must(t, err)
	e, err := db.Enrol(context.Background(), code, "android")
	must(t, err)
	return e
}

type fixedRand struct{}

func (fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}
