package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A follow-up for every new encounter, and a notification for it: the
// rules' intents are written in the transaction that stores the encounter.
var followUps = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
	if c.After.Type != syncengine.TypeEncounter || c.Before != nil {
		return domain.Intents{}, nil
	}
	fu := syncengine.RecordID("fu" + string(c.After.ID))
	return domain.Intents{
		Notify: []domain.Notification{{ID: "n" + string(c.After.ID), RecipientKind: domain.RecipientPerson,
			RecipientID: "w_a", Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}},
		Edits: []domain.Edit{{Author: "system", Record: fu, Create: syncengine.TypeFollowUp, Set: []domain.Field{
			{Name: "team_id", Value: "team_a"}, {Name: "assignee", Value: "w_a"}, {Name: "status", Value: "open"},
			{Name: "due_at", Value: time.Now().Add(24 * time.Hour)}}}},
	}, nil
})

// Phones pushing through two nodes at once, each push making the rules
// write through the server's "auto" replica: every follow-up and every
// notification is stored once, and the auto replica never reuses a counter.
func TestRulesOnTwoNodes(t *testing.T) {
	ns := nodes(t, 2)
	for _, db := range ns {
		db.Rules = followUps
	}
	phones := []*phone{enrol(t, ns[0], "w_a"), enrol(t, ns[1], "w_a")}
	const each = 12
	var mu sync.Mutex
	var encounters []syncengine.RecordID
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for k, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := p.tryEdit(func(tx *syncengine.Txn) error {
					id, err := encounter(tx, fmt.Sprintf("phone %d note %d", k, i))
					mu.Lock()
					encounters = append(encounters, id)
					mu.Unlock()
					return err
				}); err != nil {
					errs <- err
					return
				}
				res, err := p.sync(ns[(k+i)%2], true)
				if err == nil && (len(res.Results) != 1 || res.Results[0].Status != protocol.StatusAccepted) {
					err = fmt.Errorf("push answered %+v", res.Results)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range encounters {
		fu, err := ns[0].RecordState(ctx, "fu"+string(id))
		must(t, err)
		if fu == nil || fu.String("assignee") != "w_a" {
			t.Fatalf("follow-up for %s: %+v", id, fu)
		}
	}
	counts, err := ns[1].Outbox().Counts(ctx)
	must(t, err)
	if counts[domain.StatePending] != 2*each {
		t.Fatalf("outbox %v, want %d pending", counts, 2*each)
	}
	var n, distinct int
	must(t, ns[0].Pool().QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT start) FROM changesets
		WHERE replica_id = (SELECT value FROM meta WHERE key = 'auto_replica')`).Scan(&n, &distinct))
	if n != 2*each || distinct != n {
		t.Fatalf("auto replica stored %d changesets with %d distinct counters, want %d", n, distinct, 2*each)
	}
}
