package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

var (
	hrefRe  = regexp.MustCompile(`href="([^"]+)"[^>]*id="select-all"|id="select-all"[^>]*href="([^"]+)"`)
	tickRe  = regexp.MustCompile(`<input type="checkbox" name="id" value="([^"]+)"[^>]*checked>`)
	cardRe  = regexp.MustCompile(`href="([^"]*status=awaiting_review[^"]*)"`)
	countRe = regexp.MustCompile(`<span class="num">(\d+)</span> encounters awaiting review`)
)

// awaiting counts the encounters in the supervisor's teams awaiting review.
func awaiting(t *testing.T, env *testEnv, w world) (n int) {
	t.Helper()
	rs, err := env.db.Records(context.Background(), domain.RecordFilter{Type: syncengine.TypeEncounter, TeamIDs: []string{w.team}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if live(r) && str(r, "review_status") != "signed_off" && len(r.Conflicts()) == 0 {
			n++
		}
	}
	return n
}

// A supervisor signs off the whole pile awaiting review from the dashboard
// in a few clicks per page of 50: the card, "tick all", sign off.
func TestBulkSignOffInFewClicks(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup := env.signIn("supervisor", 1)
	before := awaiting(t, env, w)
	if before < 10 {
		t.Fatalf("demo has only %d awaiting review", before)
	}
	clicks := 0
	for round := 0; round < 10; round++ {
		_, dash := sup.get("/portal/dashboard")
		m := cardRe.FindStringSubmatch(dash)
		if m == nil {
			t.Fatal("the dashboard's awaiting-review card has no link")
		}
		_, list := sup.get(html.UnescapeString(m[1]))
		clicks++
		sel := hrefRe.FindStringSubmatch(list)
		if sel == nil {
			break // nothing left to sign off
		}
		link := sel[1] + sel[2]
		_, list = sup.get(html.UnescapeString(link))
		clicks++
		form := url.Values{"comment": {"Reviewed in supervision, thank you"}}
		for _, x := range tickRe.FindAllStringSubmatch(list, -1) {
			form.Add("id", x[1])
		}
		if len(form["id"]) == 0 {
			t.Fatalf("tick all ticked nothing:\n%s", trunc(list))
		}
		if st, body := sup.post("/portal/encounters/bulk-signoff", form); st != http.StatusSeeOther {
			t.Fatalf("bulk sign-off: %d\n%s", st, trunc(body))
		}
		clicks++
	}
	if left := awaiting(t, env, w); left != 0 {
		t.Fatalf("%d of %d still awaiting review after %d clicks", left, before, clicks)
	}
	if max := 3*((before+pageSize-1)/pageSize) + 1; clicks > max {
		t.Fatalf("%d clicks for %d encounters, want at most %d", clicks, before, max)
	}
	r, _ := env.db.RecordState(context.Background(), w.encounter)
	if str(r, "review_comment") != "Reviewed in supervision, thank you" || str(r, "signed_off_by") != w.supervisor {
		t.Fatalf("signed off by %q with %q", str(r, "signed_off_by"), str(r, "review_comment"))
	}
	t.Logf("%d encounters signed off in %d clicks", before, clicks)
}

// A bulk sign-off is authorised per record and all or nothing: one forged
// id from another team and nothing is signed off.
func TestBulkSignOffIsAuthorisedPerRecord(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup, worker := env.signIn("supervisor", 1), env.signIn("worker", 1)
	cases := []struct {
		name string
		who  *client
		ids  []string
		want int
	}{
		{"another team's encounter among them", sup, []string{w.encounter, w.otherEncounter}, http.StatusNotFound},
		{"not an id", sup, []string{w.encounter, "../../etc"}, http.StatusNotFound},
		{"none ticked", sup, nil, http.StatusUnprocessableEntity},
		{"a worker", worker, []string{w.encounter}, http.StatusForbidden},
	}
	for _, tc := range cases {
		st, body := tc.who.post("/portal/encounters/bulk-signoff", url.Values{"id": tc.ids})
		if st != tc.want && !(tc.name == "a worker" && st == http.StatusNotFound) {
			t.Errorf("%s: %d, want %d\n%s", tc.name, st, tc.want, trunc(body))
		}
	}
	r, _ := env.db.RecordState(context.Background(), w.encounter)
	if str(r, "review_status") == "signed_off" {
		t.Fatal("a refused bulk sign-off signed an encounter off")
	}
}

// "Sign off and open the next" goes straight to the next one awaiting review.
func TestSignOffOpensTheNext(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup := env.signIn("supervisor", 1)
	resp := sup.raw("POST", "/portal/encounters/"+w.encounter+"/signoff", url.Values{"_csrf": {sup.csrf}, "next": {"1"}})
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/portal/encounters/") || strings.Contains(loc, w.encounter) {
		t.Fatalf("after sign-off: %d to %q, want the next encounter", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(strings.Split(loc, "?")[0], "/portal/encounters/")
	r, _ := env.db.RecordState(context.Background(), id)
	if r == nil || str(r, "review_status") == "signed_off" {
		t.Fatalf("next is %q, not one awaiting review", id)
	}
}
