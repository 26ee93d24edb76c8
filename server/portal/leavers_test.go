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
	flag := "Left by " + leaver.Name + ": needs a new owner"
	if _, body := sup.get("/portal/dashboard"); strings.Contains(body, flag) {
		t.Fatal("flagged before the worker left")
	}
	admin := e.signIn("admin", 1)
	if status, body := admin.post("/portal/admin/people/"+leaver.ID+"/deactivate", url.Values{"confirm": {leaver.ID}}); status != http.StatusOK {
		t.Fatalf("deactivate: %d\n%s", status, trunc(body))
	}
	if status, body := sup.get("/portal/dashboard"); status != http.StatusOK || !strings.Contains(body, flag) || !strings.Contains(body, `id="left-`+string(fu)+`"`) {
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
		{"a record that is not a follow-up", sup, "/portal/follow-ups/" + me.TeamID + "/reassign", stayer.ID, http.StatusNotFound},
	}
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := tc.as.post(tc.path, url.Values{"assignee": {tc.to}}); status != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", status, tc.wantStatus, trunc(body))
			}
			if got := assignee(); got != leaver.ID {
				t.Fatalf("assignee changed to %s", got)
			}
		})
	}

	if status, body := sup.post(path, url.Values{"assignee": {stayer.ID}}); status != http.StatusSeeOther {
		t.Fatalf("reassign: %d\n%s", status, trunc(body))
	}
	if got := assignee(); got != stayer.ID {
		t.Fatalf("assignee %s, want %s", got, stayer.ID)
	}
	if _, body := sup.get("/portal/dashboard"); strings.Contains(body, flag) {
		t.Fatal("still flagged after reassigning")
	}
	entries, err := e.db.Audit(ctx, domain.AuditFilter{RecordID: string(fu), Action: domain.ActionEdit})
	must(t, err)
	if len(entries) != 1 || !strings.Contains(mustJSON(entries[0].Detail), stayer.ID) {
		t.Fatalf("audit of the reassignment: %+v", entries)
	}
}
