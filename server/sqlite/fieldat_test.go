package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Records stored before migration 0120 (field_at NULL) are filed when the
// store opens: an old encounter leaves the first sync's subset, a young
// person stays in it, and a record that does not decode stays in every
// subset rather than vanish from phones.
func TestOpenFilesOldRecordsForFirstSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	rep, err := syncengine.NewReplica(syncengine.Config{ID: syncengine.ReplicaID{9}, Now: func() time.Time { return time.Date(2026, 1, 5, 19, 0, 0, 0, time.UTC) },
		Rand: &countReader{}, Store: syncengine.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	var enc, yp syncengine.RecordID
	if _, err := rep.Edit("w", func(tx *syncengine.Txn) (err error) {
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "t", "area": "by the shops", "started_at": time.Date(2025, 1, 6, 19, 0, 0, 0, time.UTC)} {
			if err := tx.Set(enc, k, v); err != nil {
				return err
			}
		}
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(yp, "team_id", "t"); err != nil {
			return err
		}
		return tx.Set(yp, "known_as", "Jo")
	}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []syncengine.RecordID{enc, yp} {
		r, _ := rep.Record(id)
		if _, err := db.SQL().Exec(`INSERT INTO records (id, type, team_id, state, updated_seq) VALUES (?, ?, 't', ?, ?)`, string(id), r.Type, syncengine.EncodeRecord(r), i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SQL().Exec(`INSERT INTO records (id, type, team_id, state, updated_seq) VALUES ('broken', 'encounter', 't', x'00', 3)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id, want := range map[string]int64{string(enc): time.Date(2025, 1, 6, 19, 0, 0, 0, time.UTC).Unix(), string(yp): domain.FieldAlways, "broken": domain.FieldAlways} {
		var got int64
		if err := db.SQL().QueryRowContext(context.Background(), `SELECT field_at FROM records WHERE id = ?`, id).Scan(&got); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != want {
			t.Errorf("%s filed at %d, want %d", id, got, want)
		}
	}
}

// countReader never gives the same bytes twice (record ids).
type countReader struct{ n byte }

func (c *countReader) Read(p []byte) (int, error) {
	c.n++
	for i := range p {
		p[i] = c.n
	}
	return len(p), nil
}
