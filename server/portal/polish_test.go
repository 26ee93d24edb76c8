package portal

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestPolish: the small things issue 14 found, each on the page where it
// showed: a doubled title, raw field names and UTC stamps on referral
// pages, durations written several ways, charts drawn with nothing to show.
func TestPolish(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup := env.signIn("supervisor", 1)
	pr := env.signIn("practitioner", 1)
	worker := env.anon()
	wl := login(t, "worker", 1)
	if status, _ := worker.signIn(wl.Email, wl.Password); status != http.StatusSeeOther {
		t.Fatalf("worker sign-in: %d", status)
	}
	rawDuration := regexp.MustCompile(`\d+ (h|min)\b|\b1 (minutes|hours|days)\b`)
	for _, tc := range []struct {
		name         string
		c            *client
		path         string
		want, refuse []string
		refuseRe     *regexp.Regexp
	}{
		{"one title", worker, "/portal/worker", []string{"<title>Welcome · JoinedUp</title>"}, []string{"JoinedUp · JoinedUp"}, nil},
		{"referral labels", sup, "/portal/referrals/" + w.submitted, []string{"<dt>Reason for referral</dt>", "<dt>Submitted</dt>"},
			[]string{"<dt>young person id</dt>", "<dt>service id</dt>", "<dt>submitted at</dt>", "<dt>reason</dt>"}, nil},
		{"service referral labels", pr, "/portal/service/referrals/" + w.submitted, []string{"<dt>Reason for referral</dt>"},
			[]string{"<dt>reason</dt>", "<dt>urgency</dt>", "T18:", "Z</dd>"}, nil},
		{"durations on the dashboard", sup, "/portal/dashboard", []string{"days"}, nil, rawDuration},
		{"durations on referrals", sup, "/portal/referrals", nil, nil, rawDuration},
		{"no chart when nothing to show", sup, "/portal/reports?from=2020-01-01&to=2020-01-07", []string{"Nothing was recorded in this period."},
			[]string{`class="bars"`, "<svg"}, nil},
		{"no lone plural", sup, "/portal/encounters", nil, []string{" 1 encounters", " 1 conflict ", "1 contacts"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.c.get(tc.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d", tc.path, status)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("no %q on %s", s, tc.path)
				}
			}
			for _, s := range tc.refuse {
				if strings.Contains(body, s) {
					t.Errorf("%q on %s", s, tc.path)
				}
			}
			if tc.refuseRe != nil {
				if m := tc.refuseRe.FindString(body); m != "" {
					t.Errorf("%q on %s", m, tc.path)
				}
			}
		})
	}
}
