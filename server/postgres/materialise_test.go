package postgres_test

import (
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// setArea edits the phone's encounter (made on the first call) to area,
// inserting note first if given, and keeps the changeset for the next sync.
func (p *phone) setArea(enc *syncengine.RecordID, area, note string) *syncengine.Changeset {
	p.t.Helper()
	return p.edit(func(tx *syncengine.Txn) (err error) {
		if *enc == "" {
			if *enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			must(p.t, tx.Set(*enc, "team_id", "team_a"))
			must(p.t, tx.Set(*enc, "started_at", time.Now().Add(-time.Hour)))
		}
		if note != "" {
			if err := tx.InsertText(*enc, "note", 0, note); err != nil {
				return err
			}
		}
		return tx.Set(*enc, "area", area)
	})
}
