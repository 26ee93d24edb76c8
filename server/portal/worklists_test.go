package portal

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

var (
	overdueCardRe = regexp.MustCompile(`href="([^"]*follow-ups\?when=overdue)"><span class="num">(\d+)</span> overdue follow-ups`)
	nextRe        = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	fuRowRe       = regexp.MustCompile(`(?s)<tr><td>[^<]*</td><td>(?:<a href="/portal/young-people/[^"]+">[^<]*</a>)?</td>`)
)

// Every overdue follow-up is reachable from the dashboard, page by page:
// the 11th is no longer cut off.
func TestOverdueFollowUpsAreCompleteFromTheDashboard(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	// 70 more overdue follow-ups in the team: more than a page and a dashboard.
	_, err := env.db.ServerEdit(context.Background(), w.supervisor, func(tx *syncengine.Txn) error {
		for i := 0; i < 70; i++ {
			id, err := tx.Create(syncengine.TypeFollowUp)
			if err != nil {
				return err
			}
			for _, kv := range [][2]any{{"team_id", w.team}, {"young_person_id", w.yp}, {"assignee", w.worker},
				{"due_at", testNow.Add(-time.Duration(i+1) * time.Hour)}, {"status", "open"}, {"kind", "check_in"}} {
				if err := tx.Set(id, kv[0].(string), kv[1]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sup := env.signIn("supervisor", 1)
	_, dash := sup.get("/portal/dashboard")
	m := overdueCardRe.FindStringSubmatch(dash)
	if m == nil {
		t.Fatalf("no overdue card with a link:\n%s", trunc(dash))
	}
	want, _ := strconv.Atoi(m[2])
	if want <= 10 {
		t.Fatalf("only %d overdue: the test needs more than a dashboard's 10", want)
	}
	if !strings.Contains(dash, "All "+m[2]+" overdue follow-ups") {
		t.Error("the dashboard's overdue table has no link to the full list")
	}
	got, path := 0, html.UnescapeString(m[1])
	for pages := 0; path != "" && pages < 100; pages++ {
		st, body := sup.get(path)
		if st != http.StatusOK {
			t.Fatalf("%s: %d", path, st)
		}
		got += len(fuRowRe.FindAllString(section(body, "followup-list"), -1))
		path = ""
		if n := nextRe.FindStringSubmatch(body); n != nil {
			path = html.UnescapeString(n[1])
		}
	}
	if got != want {
		t.Fatalf("walked %d overdue follow-ups across the pages, the dashboard counts %d", got, want)
	}
}

func TestFollowUpListAndCaseloadAccess(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup, worker := env.signIn("supervisor", 1), env.signIn("worker", 1)
	cases := []struct {
		name, path string
		who        *client
		want       int
		contains   string
	}{
		{"today", "/portal/follow-ups?when=today", sup, 200, "followup-list"},
		{"week for a worker", "/portal/follow-ups?when=week&worker=" + w.worker, sup, 200, "followup-list"},
		{"unknown window", "/portal/follow-ups?when=someday", sup, 422, ""},
		{"forged worker", "/portal/follow-ups?worker=../x", sup, 422, ""},
		{"bad page", "/portal/follow-ups?page=-1", sup, 422, ""},
		{"caseload", "/portal/caseload", sup, 200, personByID(t, w.worker).Name},
		{"worker may not", "/portal/follow-ups", worker, 403, ""},
		{"worker no caseload", "/portal/caseload", worker, 403, ""},
		{"conflicts", "/portal/conflicts", sup, 200, "conflict-list"},
		{"worker no conflicts", "/portal/conflicts", worker, 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := tc.who.get(tc.path)
			if st != tc.want {
				t.Fatalf("%s: %d, want %d", tc.path, st, tc.want)
			}
			if tc.contains != "" && !strings.Contains(body, tc.contains) {
				t.Fatalf("%s lacks %q", tc.path, tc.contains)
			}
		})
	}
}

// Every count on the dashboard links to its full list.
func TestDashboardLinksToFullLists(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	_, dash := sup.get("/portal/dashboard")
	for _, href := range []string{"/portal/concerns", "/portal/follow-ups?when=overdue", "/portal/follow-ups?when=today",
		"/portal/referrals?status=submitted", "/portal/encounters?status=awaiting_review", "/portal/conflicts", "/portal/quarantine",
		"/portal/caseload"} {
		if !strings.Contains(html.UnescapeString(dash), `href="`+href+`"`) {
			t.Errorf("the dashboard has no link to %s", href)
		}
		if st, _ := sup.get(href); st != http.StatusOK {
			t.Errorf("%s: %d", href, st)
		}
	}
}
