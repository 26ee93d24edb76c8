package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestLeaversOpenWorkWaitsForANewOwner: a deactivated worker's open
// follow-up stays on their supervisor's dashboard until a supervisor of the
// owning team reassigns it to a worker of that team.
func TestLeaversOpenWorkWaitsForANewOwner(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	me := personByEmail(t, login(t, "supervisor", 1).Email)
	sup := e.signIn("supervisor", 1)
	workers, err := e.db.People(ctx, domain.PeopleFilter{TeamID: me.TeamID, Role: domain.RoleWorker})
	must(t, err)
	if len(workers) < 2 {
		t.Fatalf("team %s has %d workers, want 2", me.TeamID, len(workers))
	}
	leaver, stayer := workers[0], workers[1]
	var other domain.Person // a supervisor of another team
	for n := 2; other.ID == ""; n++ {
		if p := personByEmail(t, login(t, "supervisor", n).Email); p.TeamID != me.TeamID {
			o, err := e.db.Person(ctx, p.ID)
			must(t, err)
			other = o
		}
	}
	otherWorkers, err := e.db.People(ctx, domain.PeopleFilter{TeamID: other.TeamID, Role: domain.RoleWorker})
	must(t, err)
	var fu syncengine.RecordID
	if _, err := e.db.ServerEdit(ctx, me.ID, func(tx *syncengine.Txn) (err error) {
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": me.TeamID, "assignee": leaver.ID, "status": "open", "kind": "check_in",
			"due_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)} {
			if err := tx.Set(fu, k, v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A draft referral only the leaver wrote (the record's attribution).
	yp, _ := e.teamYoungPerson(me.TeamID)
	var ref syncengine.RecordID
	if _, err := e.db.ServerEdit(ctx, leaver.ID, func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": me.TeamID, "young_person_id": string(yp.ID), "status": "draft"} {
			if err := tx.Set(ref, k, v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	flag := "Left by " + leaver.Name + ": needs a new owner"
	if _, body := sup.get("/portal/dashboard"); strings.Contains(body, flag) {
		t.Fatal("flagged before the worker left")
	}
	admin := e.signIn("admin", 1)
	if status, body := admin.post("/portal/admin/people/"+leaver.ID+"/deactivate", url.Values{"confirm": {leaver.ID}}); status != http.StatusOK {
		t.Fatalf("deactivate: %d\n%s", status, trunc(body))
	}
	if status, body := sup.get("/portal/dashboard"); status != http.StatusOK || !strings.Contains(body, flag) ||
		!strings.Contains(body, `id="left-`+string(fu)+`"`) || !strings.Contains(body, `id="left-`+string(ref)+`"`) {
		t.Fatalf("the supervisor's dashboard does not flag the leaver's follow-up: %d\n%s", status, trunc(body))
	}

	path := "/portal/follow-ups/" + string(fu) + "/reassign"
	assignee := func() string {
		r, err := e.db.RecordState(ctx, string(fu))
		must(t, err)
		return str(r, "assignee")
	}
	otherClient := func() *client {
		for n := 2; ; n++ {
			if personByEmail(t, login(t, "supervisor", n).Email).ID == other.ID {
				return e.signIn("supervisor", n)
			}
		}
	}()
	pickups := func() []*syncengine.Record {
		all, err := e.db.Records(ctx, domain.RecordFilter{Type: syncengine.TypeFollowUp, TeamIDs: []string{me.TeamID, other.TeamID}})
		must(t, err)
		var out []*syncengine.Record
		for _, r := range all {
			if str(r, "referral_id") == string(ref) {
				out = append(out, r)
			}
		}
		return out
	}
	hostile := []struct {
		name       string
		as         *client
		path, to   string
		wantStatus int
	}{
		{"supervisor of another team", otherClient, path, stayer.ID, http.StatusNotFound},
		{"to a worker of another team", sup, path, otherWorkers[0].ID, http.StatusForbidden},
		{"to the deactivated leaver", sup, path, leaver.ID, http.StatusUnprocessableEntity},
		{"to nobody", sup, path, "", http.StatusUnprocessableEntity},
		{"to a practitioner", sup, path, personByEmail(t, login(t, "practitioner", 1).Email).ID, http.StatusForbidden},
		{"a record that is not a follow-up", sup, "/portal/follow-ups/" + string(ref) + "/reassign", stayer.ID, http.StatusNotFound},
		{"a record that is not a referral", sup, "/portal/referrals/" + string(fu) + "/reassign", stayer.ID, http.StatusNotFound},
		{"referral by a supervisor of another team", otherClient, "/portal/referrals/" + string(ref) + "/reassign", stayer.ID, http.StatusNotFound},
		{"referral to a worker of another team", sup, "/portal/referrals/" + string(ref) + "/reassign", otherWorkers[0].ID, http.StatusForbidden},
	}
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := tc.as.post(tc.path, url.Values{"assignee": {tc.to}}); status != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", status, tc.wantStatus, trunc(body))
			}
			if got := assignee(); got != leaver.ID {
				t.Fatalf("assignee changed to %s", got)
			}
			if n := len(pickups()); n != 0 {
				t.Fatalf("%d pick-up follow-ups created", n)
			}
		})
	}

	if status, body := sup.post(path, url.Values{"assignee": {stayer.ID}}); status != http.StatusSeeOther {
		t.Fatalf("reassign: %d\n%s", status, trunc(body))
	}
	if got := assignee(); got != stayer.ID {
		t.Fatalf("assignee %s, want %s", got, stayer.ID)
	}
	if _, body := sup.get("/portal/dashboard"); strings.Contains(body, `id="left-`+string(fu)+`"`) || !strings.Contains(body, `id="left-`+string(ref)+`"`) {
		t.Fatal("after reassigning the follow-up: it is still flagged, or the referral is not")
	}
	if status, body := sup.post("/portal/referrals/"+string(ref)+"/reassign", url.Values{"assignee": {stayer.ID}}); status != http.StatusSeeOther {
		t.Fatalf("reassign the referral: %d\n%s", status, trunc(body))
	}
	if ps := pickups(); len(ps) != 1 || str(ps[0], "assignee") != stayer.ID || str(ps[0], "kind") != "referral_pickup" || str(ps[0], "status") != "open" {
		t.Fatalf("the referral's new owner: %d pick-ups", len(ps))
	}
	if _, body := sup.get("/portal/dashboard"); strings.Contains(body, `id="left-`+string(ref)+`"`) {
		t.Fatal("the referral is still flagged after it has a new owner")
	}
	entries, err := e.db.Audit(ctx, domain.AuditFilter{RecordID: string(fu), Action: domain.ActionEdit})
	must(t, err)
	if len(entries) != 1 || !strings.Contains(mustJSON(entries[0].Detail), stayer.ID) {
		t.Fatalf("audit of the reassignment: %+v", entries)
	}
}
