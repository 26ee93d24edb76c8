package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/server/storetest"
)

// The store conformance suite, against a real SQLite file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "conformance.db"))
		now := time.Now()
		db.Now = func() time.Time { return now }
		must(t, db.Open())
		t.Cleanup(func() { db.Close() })
		return storetest.Harness{Store: db, Outbox: db.Outbox(), Tokens: db.Outbox(),
			SetNow: func(t time.Time) { now = t }, SetRules: func(r domain.Rules) { db.Rules = r },
			SetBounds: func(b domain.QuarantineBounds) {
				db.HeldMaxCount, db.HeldMaxBytes, db.QuarantineBodyMax, db.QuarantineDeviceBytes = b.HeldMaxCount, b.HeldMaxBytes, b.BodyMax, b.DeviceBytes
			},
			Peer: func() storetest.Store { return db },
			RecordRows: func(id string) (updated, links int64, err error) {
				err = db.SQL().QueryRow(`SELECT updated_seq, (SELECT COUNT(*) FROM changeset_records WHERE record_id = ?1) FROM records WHERE id = ?1`, id).Scan(&updated, &links)
				return updated, links, err
			}}
	})
}
