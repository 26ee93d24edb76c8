package portal

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// TestQuarantineReviewInPortal: a worker of the supervisor's team writes
// into another team's encounter; it is quarantined. Their supervisor sees
// it with what it would change (not the other team's current values);
// nobody can release it (release re-runs the policy for the worker); a
// supervisor of neither team does not see it at all.
func TestQuarantineReviewInPortal(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	code, _, err := env.db.IssueEnrolmentCode(ctx, w.worker, w.supervisor)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := env.db.Enrol(ctx, code, "android")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := env.db.Device(ctx, enr.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	worker, err := env.db.Person(ctx, w.worker)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := env.db.RecordState(ctx, w.otherEncounter)
	if err != nil || theirs == nil {
		t.Fatalf("other team's encounter: %v", err)
	}
	oldArea := str(theirs, "area")
	store := syncengine.NewMemStore()
	store.Put(theirs.Clone())
	rid, _ := syncengine.ParseReplicaID(enr.ReplicaID)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: func() time.Time { return testNow }, Rand: env.db.Rand, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := rep.Edit(w.worker, func(tx *syncengine.Txn) error {
		return tx.Set(syncengine.RecordID(w.otherEncounter), "area", "Written across teams")
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.db.Sync(ctx, domain.SyncRequest{Device: dev, Person: worker, Changesets: []*syncengine.Changeset{cs}, NoPull: true})
	if err != nil || res.Quarantined != 1 {
		t.Fatalf("cross-team write: %v %+v", err, res)
	}
	items, err := env.db.Quarantine(ctx, domain.QuarantineFilter{Open: true, DeviceID: dev.ID})
	if err != nil || len(items) != 1 {
		t.Fatalf("quarantine: %v %+v", err, items)
	}
	item := "/portal/quarantine/" + strconv.FormatInt(items[0].ID, 10)
	sup, other, admin := env.signIn("supervisor", 1), env.signIn("supervisor", 2), env.signIn("admin", 1)
	third := personByEmail(t, login(t, "supervisor", 3).Email)
	if third.TeamID == w.team || third.TeamID == w.otherTeam {
		t.Fatalf("demo: supervisor 3 should have a third team, has %s", third.TeamID)
	}
	uninvolved := env.signIn("supervisor", 3)

	if status, body := sup.get("/portal/quarantine"); status != 200 || !strings.Contains(body, item) {
		t.Fatalf("supervisor's quarantine list: %d %s", status, trunc(body))
	}
	status, body := sup.get(item)
	if status != 200 || !strings.Contains(body, "Written across teams") || !strings.Contains(body, "outside your teams") {
		t.Fatalf("quarantine item page: %d %s", status, trunc(body))
	}
	if oldArea != "" && strings.Contains(body, oldArea) {
		t.Fatalf("the other team's current value %q is shown to this supervisor", oldArea)
	}
	for _, tc := range []struct {
		name string
		by   *client
		want int
	}{
		{"an uninvolved supervisor cannot see it", uninvolved, http.StatusNotFound},
		{"pusher's supervisor cannot release it", sup, http.StatusUnprocessableEntity},
		{"the written-into team's supervisor cannot release it", other, http.StatusUnprocessableEntity},
		{"admin cannot release it either", admin, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == http.StatusNotFound {
				if status, _ := tc.by.get(item); status != tc.want {
					t.Fatalf("view: %d, want %d", status, tc.want)
				}
			}
			if status, body := tc.by.post(item, url.Values{"resolution": {"release"}}); status != tc.want {
				t.Fatalf("release: %d, want %d\n%s", status, tc.want, trunc(body))
			}
		})
	}
	// In Welsh the reason's kind is worded from the catalogue, not the raw code.
	sup.lang = "cy"
	i18n.Misses()
	for _, page := range []string{"/portal/quarantine", item} {
		if status, body := sup.get(page); status != 200 || strings.Contains(body, "<strong>forbidden</strong>") || !strings.Contains(body, "<strong>gwaharddedig</strong>") {
			t.Errorf("%s in Welsh: %d, the reason's code is not in Welsh\n%s", page, status, trunc(body))
		}
	}
	if miss := i18n.Misses(); len(miss) > 0 {
		t.Errorf("Welsh catalogue misses %q", miss)
	}
	sup.lang = ""
	after, _ := env.db.RecordState(ctx, w.otherEncounter)
	if str(after, "area") != oldArea {
		t.Fatalf("the other team's encounter was changed to %q", str(after, "area"))
	}
	if status, _ := sup.post(item, url.Values{"resolution": {"discard"}}); status != http.StatusSeeOther {
		t.Fatalf("discard: %d", status)
	}
}

// A worker's save to a follow-up, refused while its young person was
// transferred to the other team, is that team's to see then; once the young
// person is back, that team neither lists nor counts it, its page is not
// found and their discard is refused, leaving the item for the home
// supervisor, who lists, reads and discards it.
func TestQuarantineAfterTransferBackInPortal(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	person := func(id string) domain.Person {
		t.Helper()
		p, err := env.db.Person(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	enr, dev := env.enrolDevice(w.worker, w.supervisor)
	rid, _ := syncengine.ParseReplicaID(enr.ReplicaID)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: func() time.Time { return testNow }, Rand: env.db.Rand, Store: syncengine.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	var yp, fu syncengine.RecordID
	first, err := rep.Edit(w.worker, func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(yp, "team_id", w.team); err != nil {
			return err
		}
		if err := tx.Set(yp, "known_as", "Jay"); err != nil {
			return err
		}
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"team_id", w.team}, {"young_person_id", string(yp)}, {"assignee", w.worker},
			{"due_at", testNow.Add(48 * time.Hour).Format(time.RFC3339)}, {"status", "open"}} {
			if err := tx.Set(fu, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return tx.InsertText(fu, "note", 0, "Check in.")
	})
	if err != nil {
		t.Fatal(err)
	}
	later, err := rep.Edit(w.worker, func(tx *syncengine.Txn) error { return tx.InsertText(fu, "note", 9, " Wants help with a tenancy.") })
	if err != nil {
		t.Fatal(err)
	}
	sync := func(cs *syncengine.Changeset) domain.SyncResult {
		t.Helper()
		res, err := env.db.Sync(ctx, domain.SyncRequest{Device: dev, Person: person(w.worker), Changesets: []*syncengine.Changeset{cs}, NoPull: true})
		if err != nil {
			t.Fatal(err)
		}
		return *res
	}
	transfer := func(from, to, team string) {
		t.Helper()
		tr, err := env.db.StartTransfer(ctx, person(from), string(yp), team, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.db.DecideTransfer(ctx, person(to), tr.ID, domain.DecisionAccept); err != nil {
			t.Fatal(err)
		}
	}
	if res := sync(first); res.Accepted != 1 {
		t.Fatalf("the follow-up: %+v", res)
	}
	transfer(w.supervisor, w.otherSupervisor, w.otherTeam)
	if res := sync(later); res.Quarantined != 1 {
		t.Fatalf("a save to a follow-up transferred away: %+v", res)
	}
	items, err := env.db.Quarantine(ctx, domain.QuarantineFilter{Open: true, DeviceID: dev.ID})
	if err != nil || len(items) != 1 {
		t.Fatalf("quarantine: %v %+v", err, items)
	}
	item := "/portal/quarantine/" + strconv.FormatInt(items[0].ID, 10)
	sup, other := env.signIn("supervisor", 1), env.signIn("supervisor", 2)
	// listed: the item is on the reviewer's quarantine page and counted on
	// their dashboard exactly when they may decide it.
	listed := func(c *client, who string, want bool) {
		t.Helper()
		status, body := c.get("/portal/quarantine")
		if status != 200 || strings.Contains(body, `href="`+item+`"`) != want {
			t.Fatalf("%s: the quarantine page lists the item: %v, want %v (%d %s)", who, !want, want, status, trunc(body))
		}
		count := map[bool]string{true: "1", false: "0"}[want]
		if status, body := c.get("/portal/dashboard"); status != 200 || !strings.Contains(body, `<span class="num">`+count+`</span> quarantined changesets`) {
			t.Fatalf("%s: the dashboard does not count %s quarantined: %d %s", who, count, status, trunc(body))
		}
	}
	if status, body := other.get(item); status != 200 || !strings.Contains(body, "tenancy") {
		t.Fatalf("while the young person is theirs, the other team's page: %d %s", status, trunc(body))
	}
	listed(other, "while the young person is theirs, the other team", true)
	listed(sup, "while the young person is away, the sender's team", true)

	transfer(w.otherSupervisor, w.supervisor, w.team)
	// To the team the young person left it is as if it did not exist.
	if status, body := other.get(item); status != http.StatusNotFound || strings.Contains(body, "tenancy") {
		t.Fatalf("after the transfer back, the other team's page: %d %s", status, trunc(body))
	}
	listed(other, "after the transfer back, the other team", false)
	listed(sup, "after the transfer back, the home team", true)
	if status, body := other.post(item, url.Values{"resolution": {"discard"}}); status == http.StatusSeeOther {
		t.Fatalf("the other team's supervisor discarded it after the transfer back: %d %s", status, trunc(body))
	}
	if status, body := sup.get(item); status != 200 || !strings.Contains(body, "tenancy") || strings.Contains(body, "has left your teams") {
		t.Fatalf("the home supervisor's page: %d %s", status, trunc(body))
	}
	if status, _ := sup.post(item, url.Values{"resolution": {"discard"}}); status != http.StatusSeeOther {
		t.Fatalf("the home supervisor's discard: %d", status)
	}
}
