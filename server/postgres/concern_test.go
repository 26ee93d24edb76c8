package postgres_test

import (
	"context"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/syncengine"
)

// The Postgres store writes the concern alerts the rules open, keeps the
// safeguarding lead flag, and acknowledges an alert with a note, as the
// SQLite store does.
func TestConcernAlertsOnPostgres(t *testing.T) {
	ctx := context.Background()
	db := nodes(t, 1)[0]
	db.Rules = notify.New(notify.DefaultConfig())
	lead := domain.Person{ID: "dsl", Name: "Dana Lead", Role: domain.RoleSupervisor, TeamID: "team_a", SafeguardingLead: true}
	must(t, db.UpsertPerson(ctx, lead))
	if got, err := db.Person(ctx, "dsl"); err != nil || !got.SafeguardingLead {
		t.Fatalf("lead flag did not round-trip: %+v %v", got, err)
	}
	ph := enrol(t, db, "w_a")
	var id syncengine.RecordID
	ph.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = encounter(tx, "urgent worry"); err != nil {
			return err
		}
		return tx.Set(id, "concern_level", "urgent")
	})
	ph.syncAll(db)
	open, err := db.ConcernAlerts(ctx, domain.ConcernAlertFilter{OpenOnly: true})
	must(t, err)
	if len(open) != 1 || open[0].EncounterID != string(id) || open[0].Level != "urgent" {
		t.Fatalf("open alerts %+v", open)
	}
	if n, err := db.AcknowledgeConcern(ctx, string(id), "sup_a", "Called the worker"); err != nil || n != 1 {
		t.Fatalf("acknowledge: %d %v", n, err)
	}
	if open, _ := db.ConcernAlerts(ctx, domain.ConcernAlertFilter{OpenOnly: true}); len(open) != 0 {
		t.Fatalf("still open: %+v", open)
	}
}
