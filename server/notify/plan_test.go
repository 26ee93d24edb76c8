package notify_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/syncengine"
)

// facts is the organisation and records a Plan reads, in memory: Plan is a
// pure function of them and the change.
type facts struct {
	people   []domain.Person
	services map[string]domain.Service
	records  *syncengine.MemStore
}

func (f facts) Person(_ context.Context, id string) (domain.Person, error) {
	for _, p := range f.people {
		if p.ID == id {
			return p, nil
		}
	}
	return domain.Person{}, domain.NotFound("person", id)
}

func (f facts) People(_ context.Context, flt domain.PeopleFilter) ([]domain.Person, error) {
	var out []domain.Person
	for _, p := range f.people {
		if (flt.Role == "" || p.Role == flt.Role) && (flt.ServiceID == "" || p.ServiceID == flt.ServiceID) && (flt.TeamID == "" || p.TeamID == flt.TeamID) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f facts) Service(_ context.Context, id string) (domain.Service, error) {
	if s, ok := f.services[id]; ok {
		return s, nil
	}
	return domain.Service{}, domain.NotFound("service", id)
}

func (f facts) Record(_ context.Context, id syncengine.RecordID) (*syncengine.Record, error) {
	return f.records.Record(id)
}

// The rules as a table: a change in, intents out, nothing written.
func TestPlan(t *testing.T) {
	store := syncengine.NewMemStore()
	id, err := syncengine.NewReplicaID(rand.Reader)
	must(t, err)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return monday10 }, Rand: rand.Reader, Store: store})
	must(t, err)
	f := facts{records: store, services: map[string]domain.Service{"svc_housing": {ID: "svc_housing", TZ: "Europe/London", Hours: weekdays("09:00", "17:00")}},
		people: []domain.Person{
			{ID: "w_a", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London", Hours: weekdays("18:00", "22:00")},
			{ID: "sup_a", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a"}, TZ: "Europe/London"},
			{ID: "prac_h1", Role: domain.RolePractitioner, ServiceID: "svc_housing", TZ: "Europe/London"},
		}}
	edit := func(author string, fn func(tx *syncengine.Txn) error) {
		t.Helper()
		if _, err := rep.Edit(author, fn); err != nil {
			t.Fatal(err)
		}
	}
	var ref, fu syncengine.RecordID
	edit("w_a", func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		if err := set(tx, ref, "team_id", "team_a", "young_person_id", "yp1", "status", "draft"); err != nil {
			return err
		}
		return tx.InsertText(ref, "reason", 0, reason)
	})
	draft, _ := store.Record(ref)
	edit("w_a", func(tx *syncengine.Txn) error {
		return set(tx, ref, "service_id", "svc_housing", "urgency", "urgent", "consent", "given", "status", "submitted", "submitted_at", "2026-03-02T10:00:00Z")
	})
	submitted, _ := store.Record(ref)
	edit("prac_h1", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", "accepted") })
	accepted, _ := store.Record(ref)
	edit("w_a", func(tx *syncengine.Txn) (err error) {
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		return set(tx, fu, "team_id", "team_a", "assignee", "w_a", "due_at", "2026-03-03T19:00:00Z", "status", "open")
	})
	open, _ := store.Record(fu)
	edit("w_a", func(tx *syncengine.Txn) error { return tx.Set(fu, "assignee", "nobody_known") })
	unknown, _ := store.Record(fu)
	edit("w_a", func(tx *syncengine.Txn) error { return tx.Set(fu, "status", "done") })
	done, _ := store.Record(fu)

	kinds := func(ns []domain.Notification) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Kind+">"+n.RecipientID)
		}
		slices.Sort(out)
		return out
	}
	n := notify.New(notify.Config{Planner: push.DefaultPlanner(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, tc := range []struct {
		name          string
		before, after *syncengine.Record
		notify        []string
		cancel        []string // record ids
		edits         []string // record ids
	}{
		{"draft saved: nothing", nil, draft, nil, nil, nil},
		{"submitted: handoff, escalation, pick-up follow-up", draft, submitted,
			[]string{push.KindHandoff + ">prac_h1", push.KindReferralEscalation + ">sup_a"}, nil, []string{string(notify.PickupID(ref))}},
		{"submitted again (replay): nothing new", submitted, submitted, nil, nil, nil},
		{"accepted: cancel, tell the referrer", submitted, accepted,
			[]string{push.KindHandoffAccepted + ">w_a", push.KindSync + ">w_a"}, []string{string(ref)}, nil},
		{"follow-up opened: assignee, then supervisors", nil, open,
			[]string{push.KindFollowUpDue + ">w_a", push.KindFollowUpEscalation + ">sup_a"}, nil, nil},
		{"reassigned to nobody known: cancel only", open, unknown, nil, []string{string(fu)}, nil},
		{"closed: cancel", unknown, done, nil, []string{string(fu)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := n.Plan(context.Background(), f, domain.Change{Before: tc.before, After: tc.after, At: monday10})
			must(t, err)
			if got := kinds(in.Notify); !slices.Equal(got, tc.notify) {
				t.Errorf("notify %v, want %v", got, tc.notify)
			}
			var cancel, edits []string
			for _, c := range in.Cancel {
				cancel = append(cancel, c.RecordID)
			}
			for _, e := range in.Edits {
				edits = append(edits, string(e.Record))
			}
			if !slices.Equal(cancel, tc.cancel) || !slices.Equal(edits, tc.edits) {
				t.Errorf("cancel %v edits %v, want %v %v", cancel, edits, tc.cancel, tc.edits)
			}
		})
	}
}
