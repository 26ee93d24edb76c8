package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// The rules' organisation lookups are kept across syncs only while the
// organisation is unchanged, whichever node changed it: a renamed person, a
// new supervisor or a changed service, written through the peer, is what
// the next sync's rules read.
func testRulesSeeOrgChanges(t *testing.T, e *env) {
	tests := []struct {
		name   string
		change func(ctx context.Context, s Store) error
		want   string // the second notification's id
	}{
		{"nothing changed", func(context.Context, Store) error { return nil }, "n_RobinWorker_1_Housing_a2"},
		{"person renamed", func(ctx context.Context, s Store) error {
			return s.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Renamed", Role: domain.RoleWorker, TeamID: "team_a"})
		}, "n_Renamed_1_Housing_a2"},
		{"a supervisor added", func(ctx context.Context, s Store) error {
			return s.UpsertPerson(ctx, domain.Person{ID: "s2", Name: "Sup Two", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}})
		}, "n_RobinWorker_2_Housing_a2"},
		{"a service renamed", func(ctx context.Context, s Store) error {
			return s.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Homes", Kind: "housing", SharedFields: []string{"reason"}})
		}, "n_RobinWorker_1_Homes_a2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			var last string
			e.h.SetRules(domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
				if c.After.Type != syncengine.TypeEncounter {
					return domain.Intents{}, nil
				}
				who, err := f.Person(ctx, "w_a")
				if err != nil {
					return domain.Intents{}, err
				}
				sups, err := f.People(ctx, domain.PeopleFilter{Role: domain.RoleSupervisor})
				if err != nil {
					return domain.Intents{}, err
				}
				svc, err := f.Service(ctx, "svc_housing")
				if err != nil {
					return domain.Intents{}, err
				}
				last = fmt.Sprintf("n_%s_%d_%s_%s", strings.ReplaceAll(who.Name, " ", ""), len(sups), svc.Name, c.After.String("area"))
				return domain.Intents{Notify: []domain.Notification{{ID: last, RecipientKind: domain.RecipientPerson,
					RecipientID: "w_a", Kind: domain.KindFollowUpDue, RecordID: string(c.After.ID)}}}, nil
			}))
			p := e.enrolPhone("w_a")
			var enc syncengine.RecordID
			p.setArea(&enc, "a1", "met")
			p.sync(0)
			if last != "n_RobinWorker_1_Housing_a1" {
				t.Fatalf("first sync's rules read %q", last)
			}
			e.must(tt.change(e.ctx, e.h.Peer()))
			p.setArea(&enc, "a2", "")
			p.sync(0)
			if last != tt.want {
				t.Fatalf("second sync's rules read %q, want %q", last, tt.want)
			}
		})
	}
}

// The policy's view of a person a record names (a follow-up's assignee) is
// kept across syncs only while the organisation is unchanged, whichever
// node changed it: an assignee moved off the team, or brought onto it,
// through the peer, is what the next sync's policy sees.
func testPolicySeesOrgChanges(t *testing.T, e *env) {
	tests := []struct {
		name          string
		assignee      string
		change        func(ctx context.Context, s Store) error
		first, second bool // accepted
	}{
		{"nothing changed", "w_a", func(context.Context, Store) error { return nil }, true, true},
		{"the assignee moved to another team", "w_a", func(ctx context.Context, s Store) error {
			return s.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_b"})
		}, true, false},
		{"the assignee came to the team", "w_b", func(ctx context.Context, s Store) error {
			return s.UpsertPerson(ctx, domain.Person{ID: "w_b", Name: "Sam Worker", Role: domain.RoleWorker, TeamID: "team_a"})
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			p := e.enrolPhone("sup_a")
			assign := func() bool {
				t.Helper()
				p.edit(func(tx *syncengine.Txn) error {
					id, err := tx.Create(syncengine.TypeFollowUp)
					if err != nil {
						return err
					}
					return set(tx, id, "team_id", "team_a", "assignee", tt.assignee, "status", "open", "due_at", e.now.Add(24*time.Hour))
				})
				return p.sync(0).Accepted == 1
			}
			if got := assign(); got != tt.first {
				t.Fatalf("first follow-up for %s accepted %v, want %v", tt.assignee, got, tt.first)
			}
			e.must(tt.change(e.ctx, e.h.Peer()))
			if got := assign(); got != tt.second {
				t.Fatalf("after the change, a follow-up for %s accepted %v, want %v", tt.assignee, got, tt.second)
			}
		})
	}
}
