package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

var linkRe = regexp.MustCompile(`value="https?://[^"]*(/portal/set-password\?token=[^"]+)"`)

// orgSnapshot is what an admin form could change.
func orgSnapshot(t *testing.T, e *testEnv) string {
	t.Helper()
	ctx := context.Background()
	people, err := e.db.People(ctx, domain.PeopleFilter{})
	must(t, err)
	teams, err := e.db.Teams(ctx)
	must(t, err)
	areas, err := e.db.Areas(ctx)
	must(t, err)
	svcs, err := e.db.Services(ctx)
	must(t, err)
	var b strings.Builder
	for _, p := range people {
		b.WriteString(p.ID + p.Email + p.Role + p.TeamID + strings.Join(p.Supervises, ",") + string(p.Hours) + p.TZ + "\n")
	}
	for _, x := range teams {
		b.WriteString(x.ID + x.Name + "\n")
	}
	for _, x := range areas {
		b.WriteString(x.ID + "\n")
	}
	for _, x := range svcs {
		b.WriteString(x.ID + strings.Join(x.SharedFields, ",") + "\n")
	}
	return b.String()
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestAdminFormsRefuseBadInputAndChangeNothing(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1)
	worker := login(t, "supervisor", 1) // an existing e-mail address
	team := personByEmail(t, worker.Email).TeamID
	person := func(kv ...string) url.Values {
		v := url.Values{"name": {"New Person"}, "role": {"worker"}, "team_id": {team}, "tz": {"Europe/London"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i]] = append(v[kv[i]][:0:0], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name, path string
		form       url.Values
		wantIn     string
	}{
		{"duplicate e-mail", "/portal/admin/people/new", person("email", strings.ToUpper(worker.Email)), "already the e-mail address"},
		{"unknown team", "/portal/admin/people/new", person("team_id", "team_nowhere"), "no team"},
		{"supervisor of no team", "/portal/admin/people/new", person("role", "supervisor", "email", "new.sup@joinedup.test", "team_id", ""), "at least one team"},
		{"supervises an unknown team", "/portal/admin/people/new", person("role", "supervisor", "email", "new.sup@joinedup.test", "supervises", "team_nowhere"), "no team"},
		{"overlapping hours", "/portal/admin/people/new", person("hours-1-0-start", "09:00", "hours-1-0-end", "13:00",
			"hours-1-1-start", "12:30", "hours-1-1-end", "17:00"), "overlaps"},
		{"hours ending before they start", "/portal/admin/people/new", person("hours-2-0-start", "17:00", "hours-2-0-end", "09:00"), "ends before"},
		{"bad time zone", "/portal/admin/people/new", person("tz", "Mars/Olympus"), "not a time zone"},
		{"unknown role", "/portal/admin/people/new", person("role", "root"), "choose a role"},
		{"editing into a duplicate e-mail", "/portal/admin/people/" + personByEmail(t, login(t, "supervisor", 2).Email).ID,
			person("role", "supervisor", "email", worker.Email), "already the e-mail address"},
		{"agreement naming an unknown field", "/portal/admin/services/new", url.Values{"name": {"Food bank"}, "kind": {"food_bank"},
			"shared": {"reason", "home_address"}}, "home_address"},
		{"service with overlapping hours", "/portal/admin/services/new", url.Values{"name": {"Food bank"}, "kind": {"food_bank"},
			"hours-3-0-start": {"09:00"}, "hours-3-0-end": {"17:00"}, "hours-3-1-start": {"10:00"}, "hours-3-1-end": {"11:00"}}, "overlaps"},
		{"service of unknown kind", "/portal/admin/services/new", url.Values{"name": {"Food bank"}, "kind": {"casino"}}, "kind of service"},
		{"team without a name", "/portal/admin/teams", url.Values{"area_name": {"East"}}, "enter the team"},
		{"team without an area", "/portal/admin/teams", url.Values{"name": {"Team Z"}}, "area"},
		{"team with a taken name", "/portal/admin/teams", url.Values{"name": {strings.ToUpper(teamName(t, e, team))}, "area_name": {"East"}}, "already a team"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := orgSnapshot(t, e)
			status, body := admin.post(tc.path, tc.form)
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, tc.wantIn) {
				t.Fatalf("status %d, want 422 with a form error saying %q\n%s", status, tc.wantIn, trunc(body))
			}
			if after := orgSnapshot(t, e); after != before {
				t.Fatalf("a refused form changed the organisation")
			}
		})
	}
}

func teamName(t *testing.T, e *testEnv, id string) string {
	teams, err := e.db.Teams(context.Background())
	must(t, err)
	for _, x := range teams {
		if x.ID == id {
			return x.Name
		}
	}
	t.Fatalf("no team %s", id)
	return ""
}

func TestAdminPagesOnlyForAdmins(t *testing.T) {
	e := newTestEnv(t)
	target := personByEmail(t, login(t, "supervisor", 2).Email).ID
	paths := []struct{ method, path string }{
		{"GET", "/portal/admin/people"}, {"GET", "/portal/admin/people/new"}, {"POST", "/portal/admin/people/new"},
		{"GET", "/portal/admin/people/" + target}, {"POST", "/portal/admin/people/" + target},
		{"POST", "/portal/admin/people/" + target + "/deactivate"}, {"POST", "/portal/admin/people/" + target + "/password-link"},
		{"POST", "/portal/admin/people/" + target + "/unlock"}, {"POST", "/portal/admin/people/" + target + "/sessions/end"},
		{"GET", "/portal/admin/teams"}, {"POST", "/portal/admin/teams"},
		{"GET", "/portal/admin/services/new"}, {"POST", "/portal/admin/services/new"},
	}
	for _, role := range []string{"supervisor", "practitioner"} {
		c := e.signIn(role, 1)
		for _, x := range paths {
			before := orgSnapshot(t, e)
			form := url.Values{"name": {"X"}, "role": {"admin"}, "email": {"x@joinedup.test"}, "confirm": {target}, "all": {"1"}, "area_name": {"X"}}
			var status int
			if x.method == "GET" {
				status, _ = c.get(x.path)
			} else {
				status, _ = c.post(x.path, form)
			}
			if status != http.StatusForbidden {
				t.Errorf("%s %s %s: status %d, want 403", role, x.method, x.path, status)
			}
			if orgSnapshot(t, e) != before {
				t.Fatalf("%s %s %s changed the organisation", role, x.method, x.path)
			}
		}
	}
	if p, err := e.db.Person(context.Background(), target); err != nil || !p.Deactivated.IsZero() {
		t.Fatalf("target after hostile calls: %+v, %v", p.Deactivated, err)
	}
}

func TestAdminCreatesPersonWhoSetsPasswordAndIsDeactivated(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1)
	team := personByEmail(t, login(t, "supervisor", 1).Email).TeamID
	status, body := admin.post("/portal/admin/people/new", url.Values{"name": {"Sam Okafor"}, "email": {"sam.okafor@joinedup.test"},
		"role": {"supervisor"}, "team_id": {team}, "supervises": {team}, "tz": {"Europe/London"},
		"hours-1-0-start": {"09:00"}, "hours-1-0-end": {"17:00"}})
	m := linkRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("create: status %d, no set-password link\n%s", status, trunc(body))
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	sam, err := e.db.PersonByEmail(context.Background(), "sam.okafor@joinedup.test")
	must(t, err)
	if string(sam.Hours) != `[{"Weekday":1,"Start":"09:00","End":"17:00"}]` || len(sam.Supervises) != 1 {
		t.Fatalf("saved person = %+v (hours %s)", sam, sam.Hours)
	}

	// Sam opens the link signed out and chooses a password.
	browser := e.anon()
	status, body = browser.get(link)
	pre := csrfRe.FindStringSubmatch(body)
	if status != http.StatusOK || pre == nil {
		t.Fatalf("set-password page: %d\n%s", status, trunc(body))
	}
	token := strings.TrimPrefix(link, "/portal/set-password?token=")
	form := func(pw string) url.Values {
		return url.Values{"_csrf": {pre[1]}, "token": {token}, "password": {pw}, "confirm": {pw}}
	}
	if status, body = browser.do("POST", "/portal/set-password", form("password1234")); status != http.StatusUnprocessableEntity || !strings.Contains(body, "known to attackers") {
		t.Fatalf("breached password: %d\n%s", status, trunc(body))
	}
	pre = csrfRe.FindStringSubmatch(body) // each form carries a fresh token
	const pw = "pebble harbour lantern"
	if status, _ = browser.do("POST", "/portal/set-password", form(pw)); status != http.StatusSeeOther {
		t.Fatalf("good password: status %d, want 303", status)
	}
	if status, body = e.anon().get(link); status != http.StatusGone || !strings.Contains(body, "already been used") {
		t.Fatalf("link used twice: %d, want 410", status)
	}

	// Sam signs in; the admin sees the session, then deactivates Sam.
	samBrowser := e.anon()
	if status, body = samBrowser.signIn("sam.okafor@joinedup.test", pw); status != http.StatusSeeOther {
		t.Fatalf("sam signs in: %d\n%s", status, trunc(body))
	}
	if status, _ = samBrowser.get("/portal/dashboard"); status != http.StatusOK {
		t.Fatalf("sam's dashboard: %d", status)
	}
	if _, body = admin.get("/portal/admin/people/" + sam.ID); strings.Contains(body, "Not signed in anywhere") {
		t.Fatal("the admin does not see Sam's session")
	}
	if status, body = admin.post("/portal/admin/people/"+sam.ID+"/deactivate", url.Values{}); status != http.StatusUnprocessableEntity {
		t.Fatalf("deactivate without confirming: %d, want 422", status)
	}
	if status, body = admin.post("/portal/admin/people/"+sam.ID+"/deactivate", url.Values{"confirm": {sam.ID}}); status != http.StatusOK ||
		!strings.Contains(body, "Portal sessions ended: 1") {
		t.Fatalf("deactivate: %d\n%s", status, trunc(body))
	}
	if status, _ = samBrowser.get("/portal/dashboard"); status != http.StatusSeeOther {
		t.Fatalf("sam's session after deactivation: %d, want a redirect to sign in", status)
	}
	if status, body = e.anon().signIn("sam.okafor@joinedup.test", pw); status != http.StatusUnauthorized || !strings.Contains(body, "deactivated") {
		t.Fatalf("sam signs in after deactivation: %d\n%s", status, trunc(body))
	}
	audit, err := e.db.Audit(context.Background(), domain.AuditFilter{RecordID: sam.ID})
	must(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	for _, want := range []string{domain.ActionDeactivate, domain.ActionPasswordSet, domain.ActionPasswordLink, domain.ActionEdit} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit of sam lacks %s: %v", want, actions)
		}
	}
}

// TestAdminDesignatesTheSafeguardingLead: the designated safeguarding lead
// (told of every high or urgent concern at once) is chosen on the person
// form; saving the form without the box ticked clears it.
func TestAdminDesignatesTheSafeguardingLead(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1)
	sup, err := e.db.PersonByEmail(context.Background(), login(t, "supervisor", 1).Email)
	must(t, err)
	form := func(lead bool) url.Values {
		v := url.Values{"name": {sup.Name}, "email": {sup.Email}, "role": {sup.Role}, "team_id": {sup.TeamID},
			"supervises": sup.Supervises, "tz": {"Europe/London"}}
		if lead {
			v.Set("safeguarding_lead", "on")
		}
		return v
	}
	if status, body := admin.get("/portal/admin/people/" + sup.ID); status != http.StatusOK || !strings.Contains(body, `name="safeguarding_lead"`) {
		t.Fatalf("person form: %d, no safeguarding lead box\n%s", status, trunc(body))
	}
	for _, lead := range []bool{true, false} {
		if status, body := admin.post("/portal/admin/people/"+sup.ID, form(lead)); status != http.StatusOK && status != http.StatusFound && status != http.StatusSeeOther {
			t.Fatalf("save (lead %v): %d\n%s", lead, status, trunc(body))
		}
		got, err := e.db.Person(context.Background(), sup.ID)
		must(t, err)
		if got.SafeguardingLead != lead {
			t.Fatalf("after saving with the box %v: safeguarding lead %v", lead, got.SafeguardingLead)
		}
	}
}
