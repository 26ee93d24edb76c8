package sqlite_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// orgDB is a fresh store with mustOrg's organisation.
func orgDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := MustOpenDB(tb)
	mustOrg(tb, db)
	return db
}

// deviceReplica is a replica that is not the server's, editing in memory.
func deviceReplica(tb testing.TB, db *sqlite.DB) *syncengine.Replica {
	tb.Helper()
	id, err := syncengine.NewReplicaID(rand.Reader)
	must(tb, err)
	r, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: db.Now, Rand: rand.Reader, Store: syncengine.NewMemStore()})
	must(tb, err)
	return r
}

func encounter(tb testing.TB, r *syncengine.Replica, note string) (syncengine.RecordID, *syncengine.Changeset) {
	tb.Helper()
	var id syncengine.RecordID
	cs, err := r.Edit("w1", func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		tx.Set(id, "team_id", "team_a")
		tx.Set(id, "area", "park")
		tx.Set(id, "started_at", time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC))
		return tx.InsertText(id, "note", 0, note)
	})
	must(tb, err)
	return id, cs
}

// newFollowUp is the edit that creates an open follow-up for assignee.
func newFollowUp(id syncengine.RecordID, assignee string) domain.Edit {
	return domain.Edit{Author: "system", Record: id, Create: syncengine.TypeFollowUp, Set: []domain.Field{
		{Name: "team_id", Value: "team_a"}, {Name: "assignee", Value: assignee}, {Name: "status", Value: "open"},
		{Name: "due_at", Value: time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC)}}}
}

// The rules see the organisation and every record through the transaction
// that stores the change (so the changes stored before it in that
// transaction too), and what they return is written in it: the outbox row and
// the server's own follow-up, planned in its turn.
func TestRulesPlanInTheStoringTransaction(t *testing.T) {
	db, ctx := orgDB(t), context.Background()
	dev := deviceReplica(t, db)
	first, cs1 := encounter(t, dev, "first")
	second, cs2 := encounter(t, dev, "second")

	var planned []string
	db.Rules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
		planned = append(planned, c.After.Type+":"+string(c.After.ID))
		if c.After.Type != syncengine.TypeEncounter {
			return domain.Intents{}, nil
		}
		if c.After.ID == second {
			// Stored earlier in this transaction, not yet committed.
			if rec, err := f.Record(ctx, first); err != nil || rec == nil || rec.String("note") != "first" {
				return domain.Intents{}, fmt.Errorf("rule does not see the first encounter: %v %v", rec, err)
			}
		}
		p, err := f.Person(ctx, "w1")
		if err != nil {
			return domain.Intents{}, err
		}
		fu := syncengine.RecordID("fu" + string(c.After.ID))
		return domain.Intents{
			Notify: []domain.Notification{{ID: "n" + string(c.After.ID), RecipientKind: domain.RecipientPerson,
				RecipientID: p.ID, Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}},
			Edits: []domain.Edit{newFollowUp(fu, p.ID)},
		}, nil
	})
	n, err := db.Import(ctx, []*syncengine.Changeset{cs1, cs2})
	must(t, err)
	if n != 2 {
		t.Fatalf("imported %d", n)
	}
	for _, id := range []syncengine.RecordID{first, second} {
		fu, err := db.RecordState(ctx, "fu"+string(id))
		must(t, err)
		if fu == nil || fu.String("assignee") != "w1" || fu.String("status") != "open" {
			t.Fatalf("follow-up for %s: %+v", id, fu)
		}
	}
	counts, err := db.Outbox().Counts(ctx)
	must(t, err)
	if counts[domain.StatePending] != 2 {
		t.Fatalf("outbox %v, want 2 pending", counts)
	}
	// Each changeset is planned, its follow-up with it, before the next is stored.
	want := "encounter:" + string(first) + " follow_up:fu" + string(first) + " encounter:" + string(second) + " follow_up:fu" + string(second)
	if got := strings.Join(planned, " "); got != want {
		t.Fatalf("planned\n %s\nwant\n %s", got, want)
	}

}

// A rule that reacts to its own edits forever is stopped after
// domain.MaxRuleRounds rounds: the change is refused whole, nothing of it is
// kept, and the store does not recurse.
func TestRulesLoopIsBounded(t *testing.T) {
	db, ctx := orgDB(t), context.Background()
	rounds := 0
	db.Rules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
		rounds++
		next := syncengine.RecordID(fmt.Sprintf("fu%03d", rounds))
		return domain.Intents{Edits: []domain.Edit{newFollowUp(next, "w1")}}, nil
	})
	id, cs := encounter(t, deviceReplica(t, db), "starts it")
	_, err := db.Import(ctx, []*syncengine.Changeset{cs})
	if err == nil || !strings.Contains(err.Error(), "rounds") {
		t.Fatalf("endless rule: %v", err)
	}
	if rounds != domain.MaxRuleRounds {
		t.Fatalf("planned %d rounds, want %d", rounds, domain.MaxRuleRounds)
	}
	for _, rid := range []string{string(id), "fu001"} {
		if rec, err := db.RecordState(ctx, rid); err != nil || rec != nil {
			t.Fatalf("%s kept after the refused change: %v %v", rid, rec, err)
		}
	}
}

// The server replica outside ServerEdit reads records in one transaction and
// commits in another; a device's change that lands in between is merged, not
// overwritten by the engine's stale result.
func TestServerStoreMergesChangeMadeWhileEditing(t *testing.T) {
	db, ctx := orgDB(t), context.Background()
	dev := deviceReplica(t, db)
	id, cs := encounter(t, dev, "seen by the server")
	_, err := db.Import(ctx, []*syncengine.Changeset{cs})
	must(t, err)
	moved, err := dev.Edit("w1", func(tx *syncengine.Txn) error { return tx.Set(id, "area", "pier") })
	must(t, err)

	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) error {
		if err := tx.Set(id, "concern", true); err != nil { // the engine reads the record here
			return err
		}
		_, err := db.Import(ctx, []*syncengine.Changeset{moved}) // a phone's push lands meanwhile
		return err
	})
	must(t, err)
	got, err := db.RecordState(ctx, string(id))
	must(t, err)
	if got.String("area") != "pier" {
		t.Fatalf("the device's change was overwritten: area %q", got.String("area"))
	}
	if v := fmt.Sprintf("%s", got.Values()["concern"]); v != "true" {
		t.Fatalf("the server's change was lost: concern %v", v)
	}
}

// ServerEdit commits what the engine computed: nothing can change between
// its reads and its commit, and touched scope keys come back for the poke.
func TestServerEdit(t *testing.T) {
	db, ctx := orgDB(t), context.Background()
	id, cs := encounter(t, deviceReplica(t, db), "to sign off")
	_, err := db.Import(ctx, []*syncengine.Changeset{cs})
	must(t, err)
	keys, err := db.ServerEdit(ctx, "s1", func(tx *syncengine.Txn) error { return tx.Set(id, "review_status", "signed_off") })
	must(t, err)
	if strings.Join(keys, ",") != "team:team_a" {
		t.Fatalf("touched %v", keys)
	}
	got, err := db.RecordState(ctx, string(id))
	must(t, err)
	if got.String("review_status") != "signed_off" {
		t.Fatalf("edit not stored: %+v", got.Values())
	}
	if _, err := db.ServerEdit(ctx, "s1", func(tx *syncengine.Txn) error { return tx.Set(id, "area", "") }); err == nil {
		t.Fatal("an edit that breaks the schema was stored")
	}
}

// Two writers of the server replica (a tool's ServerReplica beside the
// portal's ServerEdit) cannot give two changesets one id: the writer whose
// counter is behind is refused, and nothing it wrote is kept.
func TestServerReplicaCounterIsNotReused(t *testing.T) {
	db, ctx := orgDB(t), context.Background()
	dev := deviceReplica(t, db)
	id, cs := encounter(t, dev, "shared")
	other, cs2 := encounter(t, dev, "only the tool edits this one")
	_, err := db.Import(ctx, []*syncengine.Changeset{cs, cs2})
	must(t, err)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) error { return tx.Set(id, "area", "by the tool") })
	must(t, err)
	_, err = db.ServerEdit(ctx, "s1", func(tx *syncengine.Txn) error { return tx.Set(id, "area", "by the portal") })
	must(t, err)
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) error { return tx.Set(other, "area", "by the tool again") })
	if domain.ErrorCode(err) != domain.ECONFLICT {
		t.Fatalf("a stale writer of the server replica: %v, want conflict", err)
	}
	got, err := db.RecordState(ctx, string(other))
	must(t, err)
	if got.String("area") != "park" {
		t.Fatalf("the refused edit was kept: area %q", got.String("area"))
	}
}
