package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/postgres"
	"github.com/joinedup/joinedup/syncengine"
)

// orgNodes are two nodes on one database whose organisation has a second
// team, a worker on it and a service.
func orgNodes(t *testing.T) []*postgres.DB {
	t.Helper()
	ns := nodes(t, 2)
	ctx := context.Background()
	must(t, ns[0].UpsertTeam(ctx, domain.Team{ID: "team_b", AreaID: "north", Name: "B"}))
	must(t, ns[0].UpsertPerson(ctx, domain.Person{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_b"}))
	must(t, ns[0].UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", SharedFields: []string{"reason"}}))
	return ns
}

// The rules' organisation lookups are kept across syncs only while the
// organisation is unchanged, whichever node changed it: a renamed person, a
// new supervisor or a changed service, written through node B, is what the
// next sync's rules on node A read.
func TestRulesSeeTheOrganisationAsChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(db *postgres.DB) error
		want   string // the second notification's id
	}{
		{"nothing changed", func(db *postgres.DB) error { return nil }, "n_RobinWorker_1_Housing_a2"},
		{"person renamed", func(db *postgres.DB) error {
			return db.UpsertPerson(context.Background(), domain.Person{ID: "w_a", Name: "Renamed", Role: domain.RoleWorker, TeamID: "team_a"})
		}, "n_Renamed_1_Housing_a2"},
		{"a supervisor added", func(db *postgres.DB) error {
			return db.UpsertPerson(context.Background(), domain.Person{ID: "s2", Name: "Sup Two", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}})
		}, "n_RobinWorker_2_Housing_a2"},
		{"a service renamed", func(db *postgres.DB) error {
			return db.UpsertService(context.Background(), domain.Service{ID: "svc_housing", Name: "Homes", Kind: "housing", SharedFields: []string{"reason"}})
		}, "n_RobinWorker_1_Homes_a2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := orgNodes(t)
			a := ns[0]
			var last string
			a.Rules = domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
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
			})
			p := enrol(t, a, "w_a")
			var enc syncengine.RecordID
			p.setArea(&enc, "a1", "met")
			_, err := p.sync(a, true)
			must(t, err)
			if last != "n_RobinWorker_1_Housing_a1" {
				t.Fatalf("first sync's rules read %q", last)
			}
			must(t, tt.change(ns[1]))
			p.setArea(&enc, "a2", "")
			_, err = p.sync(a, true)
			must(t, err)
			if last != tt.want {
				t.Fatalf("second sync's rules read %q, want %q", last, tt.want)
			}
		})
	}
}

// The policy's view of a person a record names (a follow-up's assignee) is
// kept across syncs only while the organisation is unchanged, whichever
// node changed it: an assignee moved off the team, or brought onto it,
// through node B, is what the next sync's policy on node A sees.
func TestPolicySeesTheOrganisationAsChanged(t *testing.T) {
	tests := []struct {
		name          string
		assignee      string
		change        func(ctx context.Context, db *postgres.DB) error
		first, second bool // accepted
	}{
		{"nothing changed", "w_a", func(context.Context, *postgres.DB) error { return nil }, true, true},
		{"the assignee moved to another team", "w_a", func(ctx context.Context, db *postgres.DB) error {
			return db.UpsertPerson(ctx, domain.Person{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_b"})
		}, true, false},
		{"the assignee came to the team", "w2", func(ctx context.Context, db *postgres.DB) error {
			return db.UpsertPerson(ctx, domain.Person{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_a"})
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ns := orgNodes(t)
			a := ns[0]
			p := enrol(t, a, "sup_a")
			assign := func() bool {
				t.Helper()
				p.edit(func(tx *syncengine.Txn) error {
					id, err := tx.Create(syncengine.TypeFollowUp)
					if err != nil {
						return err
					}
					must(t, tx.Set(id, "team_id", "team_a"))
					must(t, tx.Set(id, "assignee", tt.assignee))
					must(t, tx.Set(id, "status", "open"))
					return tx.Set(id, "due_at", time.Now().Add(24*time.Hour))
				})
				res, err := p.sync(a, true)
				must(t, err)
				return res.Accepted == 1
			}
			if got := assign(); got != tt.first {
				t.Fatalf("first follow-up for %s accepted %v, want %v", tt.assignee, got, tt.first)
			}
			must(t, tt.change(ctx, ns[1]))
			if got := assign(); got != tt.second {
				t.Fatalf("after the change, a follow-up for %s accepted %v, want %v", tt.assignee, got, tt.second)
			}
		})
	}
}
