package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// The reviewers' list of refused saves is decided as of now, by the rule
// of a discard (domain.AuthorizeDiscard): an item is listed to a reviewer,
// and its page, release and discard are open to them, exactly when they
// may decide it now. A worker's save to a follow-up is refused because its
// young person has been transferred to team_b; the young person then moves
// on to team_c and back to team_b. At each step the team that holds the
// records lists it, a team they have left neither lists it nor finds it by
// its id, the sender's own team always does, an admin always does, and a
// worker or practitioner never does.
func testQuarantineListedWhereFiledNow(t *testing.T, e *env) {
	e.must(e.s.UpsertTeam(e.ctx, domain.Team{ID: "team_c", AreaID: "north", Name: "team_c"}))
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "sup_b", Name: "Bea Supervisor", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_b"}, TZ: "Europe/London"},
		{ID: "sup_c", Name: "Cai Supervisor", Role: domain.RoleSupervisor, TeamID: "team_c", Supervises: []string{"team_c"}, TZ: "Europe/London"},
		{ID: "adm", Name: "Ada Admin", Role: domain.RoleAdmin, TZ: "Europe/London"},
	}))
	person := func(id string) domain.Person {
		p, err := e.s.Person(e.ctx, id)
		e.must(err)
		return p
	}
	transfer := func(from, to string, yp syncengine.RecordID, team string) {
		t.Helper()
		tr, err := e.s.StartTransfer(e.ctx, person(from), string(yp), team, "")
		e.must(err)
		_, err = e.s.DecideTransfer(e.ctx, person(to), tr.ID, domain.DecisionAccept)
		e.must(err)
	}

	ph := e.enrolPhone("w_a")
	yp, fu := ph.followUpOfTeamA()
	ph.edit(func(tx *syncengine.Txn) error { return tx.InsertText(fu, "note", 9, " Wants help with a tenancy.") })
	transfer("sup_a", "sup_b", yp, "team_b")
	if r := ph.sync(0); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQuarantined {
		t.Fatalf("a save to a follow-up transferred away: %+v", r.Results)
	}
	item := e.openItemOf(ph)

	everyone := []string{"sup_a", "sup_b", "sup_c", "adm", "w_a", "w_b", "prac_h"}
	check := func(step string, listedTo ...string) {
		t.Helper()
		for _, who := range everyone {
			p := person(who)
			s, err := e.s.ScopeOf(e.ctx, p)
			e.must(err)
			items, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, Reviewer: &s})
			e.must(err)
			want := slices.Contains(listedTo, who)
			listed := slices.ContainsFunc(items, func(q domain.QuarantineItem) bool { return q.ID == item.ID })
			if listed != want || len(items) != map[bool]int{true: 1}[want] {
				t.Errorf("%s: listed to %s: %v (%d items), want %v", step, who, listed, len(items), want)
			}
			// Its page is found exactly when it is listed; anyone else,
			// probing ids, is told it does not exist, as for an id never used.
			_, err = e.s.QuarantineItem(e.ctx, item.ID, p)
			if (err == nil) != want || (err != nil && domain.ErrorCode(err) != domain.ENOTFOUND) {
				t.Errorf("%s: %s opens its page: %v, want found %v", step, who, err, want)
			}
			if _, err := e.s.QuarantineItem(e.ctx, item.ID+1000, p); domain.ErrorCode(err) != domain.ENOTFOUND {
				t.Errorf("%s: %s opens an id never used: %v", step, who, err)
			}
			if !want {
				for _, res := range []string{domain.ResolutionDiscard, domain.ResolutionRelease} {
					if err := e.s.ReviewQuarantine(e.ctx, item.ID, p, res); domain.ErrorCode(err) != domain.ENOTFOUND {
						t.Errorf("%s: %s by %s, who may not decide it: %v, want not found", step, res, who, err)
					}
				}
			}
		}
		if e.openItemOf(ph).ID != item.ID {
			t.Fatalf("%s: a refused review closed the item", step)
		}
	}
	check("refused while in team_b", "sup_a", "sup_b", "adm")
	transfer("sup_b", "sup_c", yp, "team_c")
	check("moved on to team_c", "sup_a", "sup_c", "adm")
	transfer("sup_c", "sup_b", yp, "team_b")
	check("back in team_b", "sup_a", "sup_b", "adm")

	// The sender moves to team_c: team_a, which neither holds the records
	// nor has the sender now, no longer lists it.
	wa := person("w_a")
	wa.TeamID = "team_c"
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{wa}))
	check("the sender moved to team_c", "sup_b", "sup_c", "adm")

	// The team that holds the records decides it.
	e.must(e.s.ReviewQuarantine(e.ctx, item.ID, person("sup_b"), domain.ResolutionDiscard))
	for _, who := range everyone {
		s, err := e.s.ScopeOf(e.ctx, person(who))
		e.must(err)
		if items, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, Reviewer: &s}); err != nil || len(items) != 0 {
			t.Errorf("after its discard, %s lists open items: %+v %v", who, items, err)
		}
	}
}

// followUpOfTeamA saves and syncs a young person of team_a and a follow-up
// about them, assigned to the phone's worker (w_a), with the note
// "Check in.".
func (p *phone) followUpOfTeamA() (yp, fu syncengine.RecordID) {
	p.e.t.Helper()
	p.edit(func(tx *syncengine.Txn) (err error) {
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
			"due_at", p.e.now.Add(48*time.Hour).UTC().Format(time.RFC3339), "status", "open"); err != nil {
			return err
		}
		return tx.InsertText(fu, "note", 0, "Check in.")
	})
	p.sync(0)
	return yp, fu
}
