package storetest

import (
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A review is decided where the save's records are filed now, not where
// they were when it was refused. A worker adds to a follow-up while its
// young person is transferred to another team; the save is refused, and
// that team's supervisor, whose record it then wrote into, may see and
// discard it. Once the young person is transferred back, that supervisor
// may neither discard nor release it (the worker's save to a record their
// team no longer holds is not theirs to decide), and the item stays open;
// the home team's supervisor may.
func testReviewDecidedWhereFiledNow(t *testing.T, e *env) {
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "sup_b", Name: "Bea Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"},
	}))
	supA, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	supB, err := e.s.Person(e.ctx, "sup_b")
	e.must(err)
	transfer := func(from, to domain.Person, yp syncengine.RecordID, team string) {
		t.Helper()
		tr, err := e.s.StartTransfer(e.ctx, from, string(yp), team, "")
		e.must(err)
		_, err = e.s.DecideTransfer(e.ctx, to, tr.ID, domain.DecisionAccept)
		e.must(err)
	}
	for _, resolution := range []string{domain.ResolutionDiscard, domain.ResolutionRelease} {
		ph := e.enrolPhone("w_a")
		var yp, fu syncengine.RecordID
		ph.edit(func(tx *syncengine.Txn) (err error) {
			if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
				return err
			}
			if err := set(tx, yp, "team_id", "team_a", "known_as", "Jay"); err != nil {
				return err
			}
			if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
				return err
			}
			if err := set(tx, fu, "team_id", "team_a", "young_person_id", string(yp), "assignee", "w_a",
				"due_at", e.now.Add(48*time.Hour).UTC().Format(time.RFC3339), "status", "open"); err != nil {
				return err
			}
			return tx.InsertText(fu, "note", 0, "Check in.")
		})
		ph.sync(0)
		ph.edit(func(tx *syncengine.Txn) error { return tx.InsertText(fu, "note", 9, " Wants help with a tenancy.") })
		transfer(supA, supB, yp, "team_b")
		if r := ph.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined || r.Results[0].Code != domain.EFORBIDDEN {
			t.Fatalf("a save to a follow-up transferred away: %+v", r.Results)
		}
		item := e.openItemOf(ph)
		if _, err := e.s.QuarantineItem(e.ctx, item.ID, supB); err != nil {
			t.Fatalf("the supervisor of the team it wrote into does not see it: %v", err)
		}

		transfer(supB, supA, yp, "team_a")
		for _, res := range []string{domain.ResolutionDiscard, domain.ResolutionRelease} {
			if err := e.s.ReviewQuarantine(e.ctx, item.ID, supB, res); domain.ErrorCode(err) != domain.EFORBIDDEN {
				t.Fatalf("%s by the supervisor of the team the young person left: %v, want forbidden", res, err)
			}
		}
		if e.openItemOf(ph).ID != item.ID {
			t.Fatal("a refused review closed the item")
		}
		e.must(e.s.ReviewQuarantine(e.ctx, item.ID, supA, resolution))
		want := map[string]string{domain.ResolutionDiscard: "Check in.", domain.ResolutionRelease: "Check in. Wants help with a tenancy."}[resolution]
		if rec, err := e.s.RecordState(e.ctx, string(fu)); err != nil || rec.String("note") != want {
			t.Fatalf("%s by the home supervisor: the note is %q (%v), want %q", resolution, rec.String("note"), err, want)
		}
	}
}
