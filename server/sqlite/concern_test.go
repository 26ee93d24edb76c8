package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// An acknowledgement's note is a copy of what the encounter is about:
// erasing the encounter erases the note too (who acknowledged and when stay,
// for accountability).
func TestErasingAnEncounterErasesItsConcernNotes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	db := clockDB(t, &now)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	var enc syncengine.RecordID
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) (err error) {
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		must(t, tx.Set(enc, "team_id", "team_a"))
		must(t, tx.Set(enc, "area", "Park"))
		must(t, tx.Set(enc, "started_at", now))
		return tx.Set(enc, "concern_level", "urgent")
	})
	must(t, err)
	_, err = db.SQL().Exec(`INSERT INTO concern_alerts (id, encounter_id, team_id, level, raised_at) VALUES ('a1', ?, 'team_a', 'urgent', 1)`, string(enc))
	must(t, err)
	if n, err := db.AcknowledgeConcern(ctx, string(enc), "s1", "Spoke to Jamie's mum"); err != nil || n != 1 {
		t.Fatalf("acknowledge: %d, %v", n, err)
	}
	if _, err := db.Erase(ctx, domain.ErasureRequest{By: "s1", Reason: "request 7", Erase: []string{string(enc)}}); err != nil {
		t.Fatal(err)
	}
	alerts, err := db.ConcernAlerts(ctx, domain.ConcernAlertFilter{EncounterID: string(enc)})
	must(t, err)
	if len(alerts) != 1 || alerts[0].AckNote != "" || alerts[0].AckedBy != "s1" {
		t.Fatalf("after erasure: %+v", alerts)
	}
}
