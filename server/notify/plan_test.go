package notify_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
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

// A notification id, once planned, is never planned again for a later
// change: the outbox ignores a known id, so a reused id of a cancelled
// notification would be a reminder silently lost (a follow-up restored
// after a delete, a referral sent on and back). Random edits by two phones
// (so values also conflict), all stored at one instant as one sync or one
// group commit stores them, the server's state taking each changeset in
// turn; every planned id must be new. The kinds are those the rules
// re-plan as a record goes back and forth: follow-ups', handoffs', a
// referral's answer and the referrer's wake-up, chases, and a concern's
// raising and escalation. (An encounter deleted and restored plans its
// concern's ids again, on purpose: the delete cancelled none of them, and
// an acknowledged escalation must stay cancelled. That edit is left out.)
func TestPropertyPlannedIDsAreNeverReused(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))
	f := facts{services: map[string]domain.Service{
		"svc_housing": {ID: "svc_housing", TZ: "Europe/London"},
		"svc_camhs":   {ID: "svc_camhs", TZ: "Europe/London"},
	}, people: []domain.Person{
		{ID: "w_a", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"},
		{ID: "w_b", Role: domain.RoleWorker, TeamID: "team_b", TZ: "Europe/London"},
		{ID: "sup_a", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a"}, TZ: "Europe/London"},
		{ID: "sup_b", Role: domain.RoleSupervisor, TeamID: "team_b", TZ: "Europe/London"},
		{ID: "prac_h1", Role: domain.RolePractitioner, ServiceID: "svc_housing", TZ: "Europe/London"},
		{ID: "prac_c1", Role: domain.RolePractitioner, ServiceID: "svc_camhs", TZ: "Europe/London"},
	}}
	n := notify.New(notify.Config{Planner: push.DefaultPlanner(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	replaned := map[string]bool{push.KindFollowUpDue: true, push.KindFollowUpEscalation: true, push.KindHandoff: true, push.KindReferralEscalation: true,
		push.KindHandoffAccepted: true, push.KindHandoffDeclined: true, push.KindSync: true, push.KindReferralChase: true,
		push.KindConcernRaised: true, push.KindConcernEscalation: true}
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	planned := map[string]int{} // by kind, over all runs
	for run := range 80 {
		now := func() time.Time { return monday10 }
		newRep := func() (*syncengine.Replica, *syncengine.MemStore) {
			store := syncengine.NewMemStore()
			id, err := syncengine.NewReplicaID(rand.Reader)
			must(t, err)
			rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: now, Rand: rand.Reader, Store: store})
			must(t, err)
			return rep, store
		}
		server, serverStore := newRep()
		f.records = serverStore
		var phones []*syncengine.Replica
		type saved struct {
			cs   *syncengine.Changeset
			what string
		}
		var logs [][]saved // each phone's changesets, in order
		for range 2 {
			p, _ := newRep()
			phones = append(phones, p)
			logs = append(logs, nil)
		}
		seen := map[string]string{} // id -> the step that planned it
		store := func(cs *syncengine.Changeset, step string) {
			t.Helper()
			befores := map[syncengine.RecordID]*syncengine.Record{}
			for _, id := range cs.Records() {
				if r, _ := serverStore.Record(id); r != nil {
					befores[id] = r.Clone()
				}
			}
			if _, err := server.Apply(cs); err != nil {
				t.Fatalf("seed %d run %d: apply: %v", seed, run, err)
			}
			for _, id := range cs.Records() {
				after, _ := serverStore.Record(id)
				in, err := n.Plan(context.Background(), f, domain.Change{Before: befores[id], After: after, At: monday10})
				must(t, err)
				for _, nt := range in.Notify {
					if !replaned[nt.Kind] {
						continue
					}
					if first, ok := seen[nt.ID]; ok {
						t.Fatalf("seed %d run %d: %s %s to %s planned again at %q, first at %q", seed, run, nt.Kind, nt.ID, nt.RecipientID, step, first)
					}
					seen[nt.ID] = step
					planned[nt.Kind]++
				}
			}
		}
		var fu, ref, ans, enc syncengine.RecordID
		first, err := phones[0].Edit("w_a", func(tx *syncengine.Txn) (err error) {
			if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
				return err
			}
			if err := set(tx, fu, "team_id", "team_a", "assignee", "w_a", "due_at", "2026-03-03T19:00:00Z", "status", "open"); err != nil {
				return err
			}
			referral := func(status, urgency, service string) (syncengine.RecordID, error) {
				id, err := tx.Create(syncengine.TypeReferral)
				if err != nil {
					return "", err
				}
				if err := set(tx, id, "team_id", "team_a", "young_person_id", "yp1", "status", status, "urgency", urgency,
					"consent", "given", "service_id", service, "submitted_at", "2026-03-02T10:00:00Z"); err != nil {
					return "", err
				}
				return id, tx.InsertText(id, "reason", 0, reason)
			}
			if ref, err = referral("draft", "urgent", "svc_housing"); err != nil {
				return err
			}
			// ans starts submitted, for the service to answer.
			if ans, err = referral("submitted", "routine", "svc_camhs"); err != nil {
				return err
			}
			if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			return set(tx, enc, "team_id", "team_a", "area", "Docks", "started_at", "2026-03-02T09:00:00Z")
		})
		must(t, err)
		_, err = phones[1].Apply(first)
		must(t, err)
		store(first, "create")
		delivered := []int{1, 1} // how much of each phone's log the server has
		logs[0] = append(logs[0], saved{first, "create"})
		for step := range 30 {
			i := rng.IntN(2)
			p := phones[i]
			yesNo := func() any { return rng.IntN(2) == 0 }
			edits := []struct {
				what   string
				record syncengine.RecordID
				field  string
				value  func() any
			}{
				{"follow-up due", fu, "due_at", func() any { return pick("2026-03-03T19:00:00Z", "2026-03-04T19:00:00Z") }},
				{"follow-up assignee", fu, "assignee", func() any { return pick("w_a", "w_b") }},
				{"follow-up status", fu, "status", func() any { return pick("open", "done") }},
				{"follow-up team", fu, "team_id", func() any { return pick("team_a", "team_b") }},
				{"follow-up delete/restore", fu, syncengine.DeletedField, yesNo},
				{"referral status", ref, "status", func() any { return pick("draft", "submitted", "withdrawn", "accepted", "declined") }},
				{"referral chased", ref, "chased_at", func() any { return pick("2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z") }},
				{"referral service", ref, "service_id", func() any { return pick("svc_housing", "svc_camhs") }},
				{"referral delete/restore", ref, syncengine.DeletedField, yesNo},
				{"answer", ans, "status", func() any { return pick("accepted", "declined", "withdrawn") }},
				{"answered referral chased", ans, "chased_at", func() any { return pick("2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z") }},
				{"answered referral delete/restore", ans, syncengine.DeletedField, yesNo},
				{"concern level", enc, "concern_level", func() any { return pick("none", "low", "high", "urgent") }},
				{"concern", enc, "concern", yesNo},
			}
			ed := edits[rng.IntN(len(edits))]
			what := ed.what
			cs, err := p.Edit(pick("w_a", "sup_a"), func(tx *syncengine.Txn) error {
				v := ed.value()
				if v == "declined" {
					if err := tx.Set(ed.record, "decline_reason", "No capacity this month"); err != nil {
						return err
					}
				}
				return tx.Set(ed.record, ed.field, v)
			})
			if err != nil {
				continue // an edit the schema refuses (the phone refuses it too)
			}
			logs[i] = append(logs[i], saved{cs, fmt.Sprintf("edit %d (%s, phone %d)", step, what, i)})
			// The server takes a random part of either phone's log, and a
			// phone now and then hears of the other's edits, so values
			// are sometimes concurrent.
			j := rng.IntN(2)
			for k := delivered[j]; k < len(logs[j]) && rng.IntN(3) > 0; k++ {
				store(logs[j][k].cs, logs[j][k].what)
				delivered[j] = k + 1
			}
			if rng.IntN(4) == 0 {
				for _, c := range logs[1-i] {
					if _, err := phones[i].Apply(c.cs); err != nil {
						t.Fatalf("seed %d: phone sync: %v", seed, err)
					}
				}
			}
		}
		for j := range logs {
			for k := delivered[j]; k < len(logs[j]); k++ {
				store(logs[j][k].cs, logs[j][k].what)
			}
		}
	}
	t.Logf("planned, by kind: %v", planned)
	for k := range replaned {
		if planned[k] == 0 {
			t.Errorf("seed %d: no %s was ever planned: the test does not test it", seed, k)
		}
	}
}
