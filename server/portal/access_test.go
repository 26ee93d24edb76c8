package portal

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
)

// TestDetailPagesFollowServerKeptOwnership: after a young person moves team
// (a transfer, written by the server), their referral's page opens for the
// receiving team's supervisor and is a 404 for the old team's, whatever the
// referral's own team_id field still says.
func TestDetailPagesFollowServerKeptOwnership(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	l1, l2 := login(t, "supervisor", 1), login(t, "supervisor", 2)
	p1, err := e.db.PersonByEmail(ctx, l1.Email)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.db.PersonByEmail(ctx, l2.Email)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := e.db.ScopeOf(ctx, p1)
	s2, _ := e.db.ScopeOf(ctx, p2)
	var to string
	for _, team := range s2.Teams {
		if !slices.Contains(s1.Teams, team) {
			to = team
		}
	}
	if to == "" {
		t.Fatalf("demo supervisors share all teams: %v %v", s1.Teams, s2.Teams)
	}
	var ref, yp, from string
	for _, team := range s1.Teams {
		if slices.Contains(s2.Teams, team) {
			continue
		}
		err := e.db.SQL().QueryRow(`SELECT r.id, r.young_person_id, r.team_id FROM records r JOIN records y ON y.id = r.young_person_id
			WHERE r.type = 'referral' AND r.team_id = ? AND r.erased = 0 AND y.erased = 0 LIMIT 1`, team).Scan(&ref, &yp, &from)
		if err == nil {
			break
		}
	}
	if ref == "" {
		t.Fatal("no referral of a team only supervisor 1 supervises")
	}
	c1, c2 := e.signIn("supervisor", 1), e.signIn("supervisor", 2)
	if status, body := c1.get("/portal/referrals/" + ref); status != http.StatusOK {
		t.Fatalf("own team's referral: %d %s", status, trunc(body))
	}
	rep, _, err := e.db.ServerReplica(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Edit(p1.ID, func(tx *syncengine.Txn) error { return tx.Set(syncengine.RecordID(yp), "team_id", to) }); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.db.RecordState(ctx, ref); r.String("team_id") != from {
		t.Fatalf("the referral's own team_id field changed: the test needs it stale")
	}
	if status, _ := c1.get("/portal/referrals/" + ref); status != http.StatusNotFound {
		t.Fatalf("old team's supervisor opened the moved referral: %d", status)
	}
	if status, body := c2.get("/portal/referrals/" + ref); status != http.StatusOK {
		t.Fatalf("receiving team's supervisor: %d %s", status, trunc(body))
	}
	if status, _ := c2.get("/portal/young-people/" + yp); status != http.StatusOK {
		t.Fatalf("receiving team's supervisor, chronology: %d", status)
	}
}

// TestWithdrawnConsentIsA404ForTheService: a referral shared with a service
// leaves the service's pages once consent is withdrawn.
func TestWithdrawnConsentIsA404ForTheService(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for n := 1; ; n++ {
		var l = login(t, "practitioner", n) // fails the test when the demo runs out
		p, err := e.db.PersonByEmail(ctx, l.Email)
		if err != nil {
			t.Fatal(err)
		}
		var ref string
		if e.db.SQL().QueryRow(`SELECT id FROM records WHERE type = 'referral' AND service_id = ? AND erased = 0 AND deleted = 0 LIMIT 1`, p.ServiceID).Scan(&ref) != nil {
			continue
		}
		c := e.signIn("practitioner", n)
		if status, body := c.get("/portal/service/referrals/" + ref); status != http.StatusOK {
			t.Fatalf("shared referral: %d %s", status, trunc(body))
		}
		rep, _, err := e.db.ServerReplica(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rep.Edit("admin", func(tx *syncengine.Txn) error { return tx.Set(syncengine.RecordID(ref), "consent", "refused") }); err != nil {
			t.Fatal(err)
		}
		if status, _ := c.get("/portal/service/referrals/" + ref); status != http.StatusNotFound {
			t.Fatalf("after consent was withdrawn the service still opens the referral: %d", status)
		}
		if _, body := c.get("/portal/service"); strings.Contains(body, ref) {
			t.Fatal("the service's list still shows the referral")
		}
		return
	}
}
