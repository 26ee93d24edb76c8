package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// world names records of the demo data the scenarios use.
type world struct {
	supervisor, otherSupervisor, practitioner, worker, worker2, admin string // person ids
	team, otherTeam                                                   string
	service                                                           string // the practitioner's service
	encounter, otherEncounter                                         string // in team / other team
	submitted, otherServiceReferral, otherTeamReferral                string // referrals
	yp, ypHold, otherYP                                               string
}

func findWorld(t *testing.T, env *testEnv) world {
	t.Helper()
	ctx := context.Background()
	w := world{}
	sup := personByEmail(t, login(t, "supervisor", 1).Email)
	w.supervisor, w.team = sup.ID, sup.TeamID
	w.otherSupervisor = personByEmail(t, login(t, "supervisor", 2).Email).ID
	w.otherTeam = personByEmail(t, login(t, "supervisor", 2).Email).TeamID
	pr := personByEmail(t, login(t, "practitioner", 1).Email)
	w.practitioner, w.service = pr.ID, pr.ServiceID
	w.admin = personByEmail(t, login(t, "admin", 1).Email).ID
	for _, p := range demo.Org.People {
		if p.Role == domain.RoleWorker && p.TeamID == w.team {
			if w.worker == "" {
				w.worker = p.ID
			} else if w.worker2 == "" {
				w.worker2 = p.ID
			}
		}
	}
	all := func(typ string) []*syncengine.Record {
		rs, err := env.db.Records(ctx, domain.RecordFilter{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for _, r := range all(syncengine.TypeEncounter) {
		switch team := str(r, "team_id"); {
		case team == w.team && w.encounter == "" && len(r.Conflicts()) == 0 && str(r, "review_status") == "awaiting_review" && !r.Deleted():
			w.encounter = string(r.ID)
		case team == w.otherTeam && w.otherEncounter == "":
			w.otherEncounter = string(r.ID)
		}
	}
	for _, r := range all(syncengine.TypeReferral) {
		st, svc, team := str(r, "status"), str(r, "service_id"), str(r, "team_id")
		switch {
		case svc != w.service && svc != "" && st != "draft" && w.otherServiceReferral == "":
			w.otherServiceReferral = string(r.ID)
		}
		if team == w.otherTeam && w.otherTeamReferral == "" {
			w.otherTeamReferral = string(r.ID)
		}
	}
	for _, r := range all(syncengine.TypeYoungPerson) {
		team, hold := str(r, "team_id"), r.Bool("safeguarding_hold")
		switch {
		case team == w.team && hold && w.ypHold == "":
			w.ypHold = string(r.ID)
		case team == w.team && !hold && w.yp == "":
			w.yp = string(r.ID)
		case team == w.otherTeam && w.otherYP == "":
			w.otherYP = string(r.ID)
		}
	}
	w.submitted = string(newReferral(t, env, w, "submitted"))
	for name, v := range map[string]string{"encounter": w.encounter, "other encounter": w.otherEncounter, "submitted referral": w.submitted,
		"other service's referral": w.otherServiceReferral, "young person": w.yp, "young person on hold": w.ypHold, "worker2": w.worker2} {
		if v == "" {
			t.Fatalf("demo data has no %s", name)
		}
	}
	return w
}

// newReferral makes a referral of w.yp to the practitioner's service through a worker's phone.
func newReferral(t *testing.T, env *testEnv, w world, status string) syncengine.RecordID {
	t.Helper()
	ph := newPhone(t, env.db, w.worker)
	var id syncengine.RecordID
	sub := testNow.Add(-50 * time.Hour)
	push(t, env.db, ph.edit(func(tx *syncengine.Txn) error {
		var err error
		if id, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		if err := tx.InsertText(id, "reason", 0, "Needs somewhere safe to stay; sofa-surfing since September."); err != nil {
			return err
		}
		for _, kv := range []struct {
			f string
			v any
		}{{"team_id", w.team}, {"young_person_id", w.yp}, {"service_id", w.service}, {"urgency", "soon"}, {"consent", "given"},
			{"submitted_at", sub}, {"status", status}} {
			if err := tx.Set(id, kv.f, kv.v); err != nil {
				return err
			}
		}
		return nil
	}))
	return id
}

// scenario is one request and what must come back.
type scenario struct {
	name            string
	role            string // "" for signed out
	method, url     string
	form            url.Values
	wantStatus      int
	wantContains    []string
	wantNotContains []string
}

func runScenarios(t *testing.T, env *testEnv, scenarios []scenario) {
	t.Helper()
	clients := map[string]*client{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := clients[sc.role]
			if c == nil {
				if sc.role == "" {
					c = env.anon()
				} else {
					c = env.signIn(sc.role, 1)
				}
				clients[sc.role] = c
			}
			method := sc.method
			if method == "" {
				method = "GET"
			}
			var status int
			var body string
			if method == "POST" {
				status, body = c.post(sc.url, sc.form)
			} else {
				status, body = c.get(sc.url)
			}
			if status != sc.wantStatus {
				t.Fatalf("%s %s as %q: status %d, want %d\n%s", method, sc.url, sc.role, status, sc.wantStatus, trunc(body))
			}
			for _, s := range sc.wantContains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q\n%s", s, trunc(body))
				}
			}
			for _, s := range sc.wantNotContains {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q", s)
				}
			}
		})
	}
}

// TestRolesAndScope: every page checks role and scope on the server; a
// guessed URL outside the scope learns nothing (404) or is refused (403).
func TestRolesAndScope(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	runScenarios(t, env, []scenario{
		{name: "signed out is sent to sign in", url: "/portal/dashboard", wantStatus: http.StatusSeeOther},
		{name: "signed out static css", url: "/portal/static/portal.css", wantStatus: http.StatusOK, wantContains: []string{"--accent"}},
		{name: "unknown portal path", role: "supervisor", url: "/portal/nope", wantStatus: http.StatusNotFound},

		{name: "supervisor dashboard", role: "supervisor", url: "/portal/dashboard", wantStatus: 200, wantContains: []string{"Awaiting review", "Conflicts to resolve", "Quarantined changesets"}},
		{name: "supervisor own encounter", role: "supervisor", url: "/portal/encounters/" + w.encounter, wantStatus: 200, wantContains: []string{"Narrative", "Sign off this encounter"}},
		{name: "supervisor other team's encounter", role: "supervisor", url: "/portal/encounters/" + w.otherEncounter, wantStatus: 404},
		{name: "supervisor other team's referral", role: "supervisor", url: "/portal/referrals/" + w.otherTeamReferral, wantStatus: 404},
		{name: "supervisor other team's young person", role: "supervisor", url: "/portal/young-people/" + w.otherYP, wantStatus: 404},
		{name: "supervisor other team's export", role: "supervisor", url: "/portal/young-people/" + w.otherYP + "/export?format=json", wantStatus: 404},
		{name: "supervisor bad id", role: "supervisor", url: "/portal/encounters/..%2f..%2fetc", wantStatus: 404},
		{name: "supervisor cannot use the service view", role: "supervisor", url: "/portal/service", wantStatus: 403},
		{name: "supervisor reads the directory", role: "supervisor", url: "/portal/services", wantStatus: 200},
		{name: "supervisor cannot edit a service", role: "supervisor", method: "POST", url: "/portal/services/" + w.service, form: url.Values{"contact": {"x"}}, wantStatus: 403},
		{name: "supervisor encounter list filtered by concern", role: "supervisor", url: "/portal/encounters?concern=high", wantStatus: 200, wantContains: []string{"encounters"}},
		{name: "supervisor bad filter date", role: "supervisor", url: "/portal/encounters?from=yesterday", wantStatus: 422},

		{name: "practitioner home is the service view", role: "practitioner", url: "/portal/", wantStatus: http.StatusSeeOther},
		{name: "practitioner service view", role: "practitioner", url: "/portal/service", wantStatus: 200, wantContains: []string{"Referrals to"}},
		{name: "practitioner own referral", role: "practitioner", url: "/portal/service/referrals/" + w.submitted, wantStatus: 200, wantContains: []string{"Accept referral"}},
		{name: "practitioner other service's referral", role: "practitioner", url: "/portal/service/referrals/" + w.otherServiceReferral, wantStatus: 404},
		{name: "practitioner cannot accept another service's referral", role: "practitioner", method: "POST", url: "/portal/service/referrals/" + w.otherServiceReferral + "/accept", wantStatus: 404},
		{name: "practitioner guessing an encounter URL", role: "practitioner", url: "/portal/encounters/" + w.encounter, wantStatus: 403},
		{name: "practitioner guessing a referral URL", role: "practitioner", url: "/portal/referrals/" + w.submitted, wantStatus: 403},
		{name: "practitioner guessing a chronology URL", role: "practitioner", url: "/portal/young-people/" + w.yp, wantStatus: 403},
		{name: "practitioner cannot see the dashboard", role: "practitioner", url: "/portal/dashboard", wantStatus: 403},
		{name: "practitioner cannot see devices", role: "practitioner", url: "/portal/devices", wantStatus: 403},
		{name: "practitioner cannot see reports", role: "practitioner", url: "/portal/reports/csv/topics", wantStatus: 403},
		{name: "practitioner cannot see the audit log", role: "practitioner", url: "/portal/audit", wantStatus: 403},

		{name: "worker sees the phone notice", role: "worker", url: "/portal/worker", wantStatus: 200, wantContains: []string{"phone"}},
		{name: "worker cannot open encounters", role: "worker", url: "/portal/encounters/" + w.encounter, wantStatus: 403},
		{name: "worker cannot open the dashboard", role: "worker", url: "/portal/dashboard", wantStatus: 403},
		{name: "worker cannot use the service view", role: "worker", url: "/portal/service", wantStatus: 403},

		{name: "admin any team's encounter", role: "admin", url: "/portal/encounters/" + w.otherEncounter, wantStatus: 200},
		{name: "admin service view of a service", role: "admin", url: "/portal/service?service=" + w.service, wantStatus: 200},
		{name: "admin cannot accept for a service", role: "admin", method: "POST", url: "/portal/service/referrals/" + w.submitted + "/accept?service=" + w.service, wantStatus: 403},
		{name: "admin audit", role: "admin", url: "/portal/audit?action=login", wantStatus: 200, wantContains: []string{"login"}},
	})
}

// TestSignInAnswersDoNotTellWhichAddressesExist: the sign-in page answers a
// wrong password for a real account exactly as it answers an address nobody
// has, before and during the back-off (each from its own client, so the
// throttling of one cannot explain the other).
func TestSignInAnswersDoNotTellWhichAddressesExist(t *testing.T) {
	answers := func(env *testEnv, email string) []string {
		c := env.anon()
		var out []string
		for i := 0; i < 8; i++ {
			status, body := c.signIn(email, "wrong password")
			body = csrfRe.ReplaceAllString(body, "")
			body = strings.ReplaceAll(body, email, "EMAIL")
			out = append(out, fmt.Sprintf("%d %s", status, body))
		}
		return out
	}
	env := newTestEnv(t)
	k := answers(env, login(t, "supervisor", 1).Email)
	u := answers(newTestEnv(t), "nobody@example.org")
	for i := range k {
		if k[i] != u[i] {
			t.Fatalf("attempt %d: a real account and an unknown address were answered differently:\n%s\n----\n%s", i+1, k[i], u[i])
		}
	}
}

func TestSignInLockoutAndSessions(t *testing.T) {
	env := newTestEnv(t)
	l := login(t, "supervisor", 1)

	t.Run("cookies are secure, HttpOnly, SameSite=Strict", func(t *testing.T) {
		c := env.anon()
		_, body := c.get("/portal/login")
		tok := csrfRe.FindStringSubmatch(body)[1]
		resp := c.raw("POST", "/portal/login", url.Values{"_csrf": {tok}, "email": {l.Email}, "password": {l.Password}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var found bool
		for _, h := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(h, sessionCookie+"=") {
				found = true
				for _, want := range []string{"HttpOnly", "secure", "SameSite=Strict", "path=/portal"} {
					if !strings.Contains(strings.ToLower(h), strings.ToLower(want)) {
						t.Errorf("session cookie %q lacks %s", h, want)
					}
				}
			}
		}
		if !found {
			t.Fatal("no session cookie")
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
	})

	t.Run("sign-in form without its CSRF token is refused", func(t *testing.T) {
		c := env.anon()
		c.get("/portal/login")
		status, _ := c.do("POST", "/portal/login", url.Values{"_csrf": {"forged"}, "email": {l.Email}, "password": {l.Password}})
		if status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	})

	t.Run("form posts need the session's CSRF token and same origin", func(t *testing.T) {
		c := env.signIn("supervisor", 1)
		w := findWorld(t, env)
		status, _ := c.do("POST", "/portal/encounters/"+w.encounter+"/signoff", url.Values{"_csrf": {"wrong"}})
		if status != http.StatusForbidden {
			t.Fatalf("bad token: status %d, want 403", status)
		}
		status, _ = c.do("POST", "/portal/encounters/"+w.encounter+"/signoff", url.Values{})
		if status != http.StatusForbidden {
			t.Fatalf("no token: status %d, want 403", status)
		}
		r, _ := env.db.RecordState(context.Background(), w.encounter)
		if str(r, "review_status") == "signed_off" {
			t.Fatal("a forged form signed the encounter off")
		}
	})

	t.Run("back-off after 5 failures, the same for unknown addresses", func(t *testing.T) {
		c := env.anon()
		for i := 0; i < 5; i++ {
			status, body := c.signIn(l.Email, "wrong password")
			if status != http.StatusUnauthorized || !strings.Contains(body, "do not match") {
				t.Fatalf("failure %d: status %d", i+1, status)
			}
		}
		status, body := c.signIn(l.Email, l.Password)
		if status != http.StatusTooManyRequests || !strings.Contains(body, "Please wait 1 minute") {
			t.Fatalf("right password during the back-off: status %d", status)
		}
		*env.clock = env.clock.Add(time.Minute)
		defer func() { *env.clock = testNow }()
		if status, _ := c.signIn(l.Email, l.Password); status != http.StatusSeeOther {
			t.Fatalf("after the back-off: status %d", status)
		}
		entries, err := env.db.Audit(context.Background(), domain.AuditFilter{PersonID: personByEmail(t, l.Email).ID, Action: domain.ActionLogin, Limit: 50})
		if err != nil || len(entries) < 7 {
			t.Fatalf("login audit: %d entries, %v", len(entries), err)
		}
	})

	t.Run("a client guessing many accounts is throttled before any password check", func(t *testing.T) {
		c := newTestEnv(t).anon() // its own server: this client's bucket is drained
		var throttled int
		var retry string
		for i := 0; i < 30; i++ {
			_, body := c.get("/portal/login")
			tok := csrfRe.FindStringSubmatch(body)[1]
			resp := c.raw("POST", "/portal/login", url.Values{"_csrf": {tok}, "email": {fmt.Sprintf("guess%d@example.org", i)}, "password": {"x"}})
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				throttled++
				retry = resp.Header.Get("Retry-After")
			}
		}
		if throttled < 15 || retry == "" || retry == "0" {
			t.Fatalf("30 rapid guesses from one client: %d throttled, Retry-After %q", throttled, retry)
		}
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		c := env.signIn("admin", 1)
		saved := c.cookies[sessionCookie]
		if status, _ := c.post("/portal/logout", nil); status != http.StatusSeeOther {
			t.Fatalf("logout status %d", status)
		}
		c.cookies[sessionCookie] = saved // a stolen copy of the cookie
		if status, _ := c.get("/portal/dashboard"); status != http.StatusSeeOther {
			t.Fatalf("old session still works: %d", status)
		}
	})

	t.Run("idle sessions expire", func(t *testing.T) {
		c := env.signIn("admin", 1)
		*env.clock = env.clock.Add(31 * time.Minute)
		defer func() { *env.clock = testNow }()
		if status, _ := c.get("/portal/dashboard"); status != http.StatusSeeOther {
			t.Fatalf("idle session still works: %d", status)
		}
	})

	t.Run("next is kept inside the portal", func(t *testing.T) {
		if got := safeNext("/portal", "https://evil.example/portal/x"); got != "" {
			t.Fatalf("safeNext let %q through", got)
		}
		if got := safeNext("/portal", "//evil.example/portal/"); got != "" {
			t.Fatalf("safeNext let %q through", got)
		}
		if got := safeNext("/portal", "/portal/encounters?area=x"); got != "/portal/encounters?area=x" {
			t.Fatalf("safeNext dropped a portal path: %q", got)
		}
	})
}

// twoPhoneEncounter creates, through two phones, an encounter whose note
// both workers wrote and whose area they changed concurrently.
func twoPhoneEncounter(t *testing.T, env *testEnv, w world, note string) syncengine.RecordID {
	t.Helper()
	a, b := newPhone(t, env.db, w.worker), newPhone(t, env.db, w.worker2)
	var id syncengine.RecordID
	started := testNow.Add(-2 * time.Hour)
	cs1 := a.edit(func(tx *syncengine.Txn) error {
		var err error
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for _, kv := range []struct {
			f string
			v any
		}{{"team_id", w.team}, {"area", "Bus station"}, {"started_at", started}, {"review_status", "awaiting_review"}, {"concern", false}} {
			if err := tx.Set(id, kv.f, kv.v); err != nil {
				return err
			}
		}
		for _, x := range []string{w.worker, w.worker2} {
			if err := tx.Add(id, "workers", x); err != nil {
				return err
			}
		}
		if err := tx.Add(id, "young_people", w.yp); err != nil {
			return err
		}
		return tx.InsertText(id, "note", 0, note)
	})
	push(t, env.db, cs1)
	b.load(id)
	a2 := a.edit(func(tx *syncengine.Txn) error { return tx.Set(id, "area", "Market square") })
	b2 := b.edit(func(tx *syncengine.Txn) error {
		if err := tx.Set(id, "area", "Bus station (east side)"); err != nil {
			return err
		}
		r, _ := tx.Record(id)
		return tx.InsertText(id, "note", len([]rune(r.String("note"))), " Second worker adds: they seemed calmer later.")
	})
	push(t, env.db, a2, b2)
	return id
}

func TestEncounterReviewConflictSignOff(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	id := twoPhoneEncounter(t, env, w, `Met at the bus shelter. <script>alert("x")</script> Talked about college.`)
	sup := env.signIn("supervisor", 1)
	path := "/portal/encounters/" + string(id)

	status, body := sup.get(path)
	if status != 200 {
		t.Fatalf("detail: %d\n%s", status, trunc(body))
	}
	// Both authors are named on their parts of the narrative.
	for _, want := range []string{"Written by " + personByID(t, w.worker).Name, "Written by " + personByID(t, w.worker2).Name,
		"Second worker adds", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "Market square", "Bus station (east side)", "Conflicting fields"} {
		if !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	if strings.Contains(body, `<script>alert`) {
		t.Fatal("note text was rendered as markup")
	}
	if strings.Contains(body, `id="signoff"`) {
		t.Error("sign-off offered while fields conflict")
	}
	if status, _ := sup.post(path+"/signoff", nil); status != http.StatusUnprocessableEntity {
		t.Fatalf("sign-off with a conflict: %d, want 422", status)
	}

	// Resolve: keep the second phone's value.
	r, _ := env.db.RecordState(context.Background(), string(id))
	var keep string
	for _, v := range r.Conflicts()[0].Values {
		if strings.Contains(string(v.Value), "east side") {
			keep = v.ID.String()
		}
	}
	if status, body := sup.post(path+"/resolve", url.Values{"field": {"area"}, "value": {keep}}); status != http.StatusSeeOther {
		t.Fatalf("resolve: %d\n%s", status, trunc(body))
	}
	r, _ = env.db.RecordState(context.Background(), string(id))
	if len(r.Conflicts()) != 0 || str(r, "area") != "Bus station (east side)" {
		t.Fatalf("after resolve: conflicts %v, area %q", r.Conflicts(), str(r, "area"))
	}
	// Resolving again with the stale value is a conflict, not a silent overwrite.
	if status, _ := sup.post(path+"/resolve", url.Values{"field": {"area"}, "value": {keep}}); status != http.StatusConflict {
		t.Fatalf("stale resolve: %d, want 409", status)
	}

	if status, _ := sup.post(path+"/signoff", nil); status != http.StatusSeeOther {
		t.Fatalf("sign-off: %d", status)
	}
	r, _ = env.db.RecordState(context.Background(), string(id))
	if str(r, "review_status") != "signed_off" || str(r, "signed_off_by") != w.supervisor {
		t.Fatalf("review %q by %q", str(r, "review_status"), str(r, "signed_off_by"))
	}
	// The sign-off is a changeset in the log, so phones receive it, and it is audited.
	entries, _ := env.db.Audit(context.Background(), domain.AuditFilter{RecordID: string(id), Limit: 100})
	var reads, writes int
	for _, e := range entries {
		switch {
		case e.Action == domain.ActionRead && e.PersonID == w.supervisor:
			reads++
		case e.Action == domain.ActionWrite && e.PersonID == w.supervisor:
			writes++
		}
	}
	if reads == 0 || writes < 2 {
		t.Fatalf("audit: %d reads and %d writes by the supervisor", reads, writes)
	}
	// The list shows it and escapes nothing wrongly.
	if _, body := sup.get("/portal/encounters?area=" + url.QueryEscape("Bus station (east side)")); !strings.Contains(body, "signed off") {
		t.Error("list does not show the signed-off encounter")
	}
}

func personByID(tb testing.TB, id string) domain.Person {
	for _, p := range demo.Org.People {
		if p.ID == id {
			return domain.Person{ID: p.ID, Name: p.Name}
		}
	}
	tb.Fatalf("no person %s", id)
	return domain.Person{}
}

func TestServiceAcceptDeclineAndAgreement(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	svc, err := env.db.Service(context.Background(), w.service)
	if err != nil {
		t.Fatal(err)
	}
	pr := env.signIn("practitioner", 1)
	path := "/portal/service/referrals/" + w.submitted
	status, body := pr.get(path)
	if status != 200 {
		t.Fatalf("%d", status)
	}
	// Only the agreed fields are shown.
	ref, _ := env.db.RecordState(context.Background(), w.submitted)
	for _, f := range []string{"reason", "consent", "urgency"} {
		label := "<dt>" + fieldLabel(f) + "</dt>"
		if slices.Contains(svc.SharedFields, f) != strings.Contains(body, label) {
			t.Errorf("field %s shown=%v, agreement=%v", f, strings.Contains(body, label), svc.SharedFields)
		}
	}
	if !slices.Contains(svc.SharedFields, "consent_justification") && strings.Contains(body, "consent justification") {
		t.Error("consent justification shown to a service")
	}
	if !slices.Contains(svc.SharedFields, "reason") && strings.Contains(body, ref.String("reason")[:20]) {
		t.Error("reason text shown without agreement")
	}

	if status, _ := pr.post(path+"/decline", url.Values{"reason": {"  "}}); status != http.StatusUnprocessableEntity {
		t.Fatalf("decline without reason: %d", status)
	}
	if status, body := pr.post(path+"/accept", url.Values{"outcome": {"Appointment offered for Tuesday"}}); status != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", status, trunc(body))
	}
	r, _ := env.db.RecordState(context.Background(), w.submitted)
	if str(r, "status") != "accepted" || str(r, "outcome") != "Appointment offered for Tuesday" {
		t.Fatalf("status %q outcome %q", str(r, "status"), str(r, "outcome"))
	}
	if status, _ := pr.post(path+"/accept", nil); status != http.StatusConflict {
		t.Fatalf("second accept: %d, want 409", status)
	}

	// Admin edits the agreement (audited): without "reason" the service no longer sees it.
	adm := env.signIn("admin", 1)
	var shared []string
	for _, f := range svc.SharedFields {
		if f != "reason" {
			shared = append(shared, f)
		}
	}
	form := weekForm(t, svc.Hours, url.Values{"contact": {svc.Contact}, "pathway": {svc.Pathway}, "tz": {svc.TZ}, "shared": shared})
	if status, body := adm.post("/portal/services/"+w.service, form); status != http.StatusSeeOther {
		t.Fatalf("edit service: %d %s", status, trunc(body))
	}
	if _, body := pr.get(path); strings.Contains(body, "<dt>reason</dt>") || strings.Contains(body, "sofa-surfing") {
		t.Error("reason still shown after the agreement stopped granting it")
	}
	if rec, _ := env.db.RecordState(context.Background(), w.service); rec != nil && slices.Contains(rec.Set("shared_fields"), "reason") {
		t.Error("the service's record (the phones' directory) still shares reason")
	}
	entries, _ := env.db.Audit(context.Background(), domain.AuditFilter{RecordID: w.service, Action: domain.ActionEdit})
	if len(entries) != 1 || !strings.Contains(mustJSON(entries[0].Detail), `"changed":["shared_fields"]`) {
		t.Fatalf("service edit audit: %+v", entries)
	}
	if status, _ := adm.post("/portal/services/"+w.service, url.Values{"shared": {"address"}}); status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown shared field: %d", status)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestChronologyExportErase(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	sup := env.signIn("supervisor", 1)

	status, body := sup.get("/portal/young-people/" + w.yp)
	if status != 200 || !strings.Contains(body, `id="timeline"`) {
		t.Fatalf("chronology: %d", status)
	}
	// Time order.
	times := regexp.MustCompile(`datetime="([^"]+)"`).FindAllStringSubmatch(body, -1)
	for i := 1; i < len(times); i++ {
		if times[i][1] < times[i-1][1] {
			t.Fatalf("chronology out of order: %s before %s", times[i-1][1], times[i][1])
		}
	}

	resp := sup.raw("GET", "/portal/young-people/"+w.yp+"/export?format=json", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export json: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	var sar struct {
		Records []syncengine.View `json:"records"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sar); err != nil || len(sar.Records) == 0 || string(sar.Records[0].ID) != w.yp {
		t.Fatalf("export body: %v, %d records", err, len(sar.Records))
	}
	resp.Body.Close()
	resp = sup.raw("GET", "/portal/young-people/"+w.yp+"/export?format=csv", nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.Contains(ct, "csv") {
		t.Fatalf("export csv: %d %q", resp.StatusCode, ct)
	}
	resp.Body.Close()
	exports, _ := env.db.Audit(context.Background(), domain.AuditFilter{RecordID: w.yp, Action: domain.ActionExport})
	if len(exports) != 2 {
		t.Fatalf("%d export audit entries, want 2", len(exports))
	}

	erase := func(id, reason string) (int, string) {
		return sup.post("/portal/young-people/"+id+"/erase", url.Values{"reason": {reason}, "confirm": {id}})
	}
	if status, _ := erase(w.yp, "short"); status != http.StatusUnprocessableEntity {
		t.Fatalf("erase without a proper reason: %d", status)
	}
	if status, body := erase(w.ypHold, "Subject asked for erasure under Art. 17"); status != http.StatusConflict || !strings.Contains(body, "safeguarding hold") {
		t.Fatalf("erase under hold: %d", status)
	}
	if r, _ := env.db.RecordState(context.Background(), w.ypHold); r.Erased != nil {
		t.Fatal("record under hold was erased")
	}
	refs, _ := env.db.Records(context.Background(), domain.RecordFilter{Type: syncengine.TypeReferral, YoungPersonID: w.yp})
	if status, body := erase(w.yp, "Subject asked for erasure under Art. 17"); status != http.StatusSeeOther {
		t.Fatalf("erase: %d %s", status, trunc(body))
	}
	r, _ := env.db.RecordState(context.Background(), w.yp)
	if r.Erased == nil || r.Erased.Reason != "Subject asked for erasure under Art. 17" || r.Erased.By != w.supervisor {
		t.Fatalf("not erased: %+v", r.Erased)
	}
	for _, ref := range refs {
		if x, _ := env.db.RecordState(context.Background(), string(ref.ID)); x.Erased == nil {
			t.Errorf("referral %s about the young person not erased", ref.ID)
		}
	}
	if status, body := sup.get("/portal/young-people/" + w.yp); status != 200 || !strings.Contains(body, "Erased record") {
		t.Fatalf("erased chronology: %d", status)
	}
	if status, _ := sup.get("/portal/young-people/" + w.yp + "/export"); status != http.StatusGone {
		t.Fatalf("export after erasure: %d, want 410", status)
	}
}

func TestReportsSuppressSmallCounts(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("admin", 1)
	status, body := sup.get("/portal/reports")
	if status != 200 || strings.Count(body, `<svg`) < 6 {
		t.Fatalf("reports: %d, %d charts", status, strings.Count(body, "<svg"))
	}
	for _, name := range []string{"contacts-by-area", "contacts-by-age-band", "contacts-by-gender", "topics", "referrals-by-service", "time-to-acceptance"} {
		resp := sup.raw("GET", "/portal/reports/csv/"+name, nil)
		text := readAll(resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) < 2 {
			t.Fatalf("%s: %q", name, text)
		}
		for _, line := range lines[1:] {
			for _, f := range strings.Split(line, ",")[1:] {
				if f == "1" || f == "2" {
					t.Errorf("%s: unsuppressed small count in %q", name, line)
				}
			}
		}
		for _, yp := range demo.YoungPeople[:20] {
			if strings.Contains(text, yp.KnownAs) || strings.Contains(text, yp.ID) {
				t.Errorf("%s names a young person", name)
			}
		}
	}
	if status, _ := sup.get("/portal/reports/csv/everything"); status != 404 {
		t.Fatalf("unknown report: %d", status)
	}
	for _, c := range []int{0, 1, 2, 3, 7} {
		if x := env.portal.suppress(c); x.Suppressed != (c == 1 || c == 2) {
			t.Errorf("suppress(%d) = %+v", c, x)
		}
	}
}

// TestComplementarySuppression: a lone small count in a row or column is
// protected by also hiding the smallest other count, so that it cannot be
// recovered from a total that a sibling report shows.
func TestComplementarySuppression(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name string
		grid [][]int // rows of counts
		want [][]string
	}{
		{"one column, one small count", [][]int{{1}, {5}, {9}}, [][]string{{"<3"}, {"*"}, {"9"}}},
		{"two small counts protect each other", [][]int{{1}, {2}, {9}}, [][]string{{"<3"}, {"<3"}, {"9"}}},
		{"zeros are not counts", [][]int{{0}, {4}, {9}}, [][]string{{"0"}, {"4"}, {"9"}}},
		{"rows and columns", [][]int{{1, 6, 8}, {7, 5, 9}}, [][]string{{"<3", "*", "8"}, {"*", "*", "9"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows, cols []string
			for i := range tc.grid {
				rows = append(rows, fmt.Sprint("r", i))
			}
			for j := range tc.grid[0] {
				cols = append(cols, fmt.Sprint("c", j))
			}
			asIs := func(s string) string { return s }
			tab := env.portal.makeTable(i18n.For(i18n.English), "t", "T", "r", rows, cols, asIs, asIs, func(r, c string) int {
				var i, j int
				fmt.Sscanf(r, "r%d", &i)
				fmt.Sscanf(c, "c%d", &j)
				return tc.grid[i][j]
			})
			for i := range tc.want {
				for j := range tc.want[i] {
					if got := tab.Cells[i][j].Label(3); got != tc.want[i][j] {
						t.Fatalf("cell %d,%d = %s, want %s (table %+v)", i, j, got, tc.want[i][j], tab.Cells)
					}
				}
			}
		})
	}
}

func TestDevicesEnrolQRRevoke(t *testing.T) {
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
	sup := env.signIn("supervisor", 1)
	status, body := sup.get("/portal/devices")
	if status != 200 || !strings.Contains(body, "dev-"+enr.DeviceID) {
		t.Fatalf("devices: %d\n%s", status, trunc(body))
	}
	status, body = sup.post("/portal/devices/code", url.Values{"person": {w.worker2}})
	if status != 200 {
		t.Fatalf("issue code: %d %s", status, trunc(body))
	}
	m := regexp.MustCompile(`id="code">([^<]+)<`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `<svg`) {
		t.Fatal("no code or QR on the page")
	}
	payload, err := decodeQRFromSVG(body)
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	if !strings.Contains(payload, "code="+strings.ReplaceAll(m[1], "-", "")) { // shown in groups of four
		t.Fatalf("QR says %q, code is %q", payload, m[1])
	}
	if _, err := env.db.Enrol(ctx, m[1], "ios"); err != nil {
		t.Fatalf("the issued code does not enrol: %v", err)
	}
	// The same rule as the API (domain.MayIssueEnrolmentCode): a
	// supervisor issues codes for their teams' people, never a service's
	// practitioner's or an admin's; an admin issues a practitioner's.
	for _, tc := range []struct {
		name   string
		by     *client
		person string
		want   int
	}{
		{"supervisor: another team's supervisor", sup, w.otherSupervisor, http.StatusUnprocessableEntity},
		{"supervisor: practitioner", sup, w.practitioner, http.StatusUnprocessableEntity},
		{"supervisor: admin", sup, w.admin, http.StatusUnprocessableEntity},
		{"supervisor: forged id", sup, "nobody", http.StatusUnprocessableEntity},
		{"admin: practitioner", env.signIn("admin", 1), w.practitioner, http.StatusOK},
	} {
		if status, body := tc.by.post("/portal/devices/code", url.Values{"person": {tc.person}}); status != tc.want {
			t.Fatalf("%s: %d, want %d\n%s", tc.name, status, tc.want, trunc(body))
		}
	}

	other := env.signIn("supervisor", 2)
	if status, _ := other.post("/portal/devices/"+enr.DeviceID+"/revoke", nil); status != http.StatusNotFound {
		t.Fatalf("another team's supervisor revoked: %d", status)
	}
	if status, _ := sup.post("/portal/devices/"+enr.DeviceID+"/revoke", url.Values{"reason": {"lost on the bus"}, "confirm": {enr.DeviceID}}); status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", status)
	}
	dev, _ := env.db.Device(ctx, enr.DeviceID)
	if dev.Status != domain.DeviceRevoked || !dev.WipeRequested {
		t.Fatalf("device after revoke: %+v", dev)
	}
	if _, _, err := env.db.Authenticate(ctx, enr.Credential); err == nil {
		t.Fatal("revoked device still authenticates")
	}
	entries, _ := env.db.Audit(ctx, domain.AuditFilter{DeviceID: enr.DeviceID, Action: domain.ActionRevoke})
	if len(entries) != 1 || entries[0].PersonID != w.supervisor {
		t.Fatalf("revoke audit: %+v", entries)
	}
}

func TestDashboardAndLists(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	_, body := sup.get("/portal/dashboard")
	for _, want := range []string{"Tonight", "This week", "Referrals by status", "Overdue follow-ups", "Safeguarding concerns", "Quarantined changesets", "Conflicts to resolve"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if _, body := sup.get("/portal/referrals?status=submitted"); !strings.Contains(body, "referral-list") {
		t.Error("pipeline list missing")
	}
	if status, _ := sup.get("/portal/referrals?status=lost"); status != 422 {
		t.Errorf("bad status filter: %d", status)
	}
	if _, body := sup.get("/portal/audit?action=read"); !strings.Contains(body, "dashboard") {
		t.Error("page reads are not in the audit log")
	}

	// Filters narrow the encounter list: every row names the chosen worker.
	w := findWorld(t, env)
	name := personByID(t, w.worker).Name
	_, body = sup.get("/portal/encounters?worker=" + w.worker)
	rows := regexp.MustCompile(`(?s)<tr>\s*(?:<td>(?:<input[^>]*>)?</td>\s*)?<td><a href="/portal/encounters/.*?</tr>`).FindAllString(body, -1)
	if len(rows) == 0 {
		t.Fatal("no encounters for the worker")
	}
	for _, r := range rows {
		if !strings.Contains(r, name) {
			t.Fatalf("row without %s: %s", name, r)
		}
	}
	_, all := sup.get("/portal/encounters")
	if n := strings.Count(all, `<tr>`); n <= len(rows) {
		t.Errorf("worker filter did not narrow the list (%d of %d)", len(rows), n)
	}
	_, body = sup.get("/portal/encounters?from=2025-10-20&to=2025-10-20&concern=yes")
	for _, d := range regexp.MustCompile(`>(\w{3} \d+ \w{3} \d{4}), \d\d:\d\d</a>`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(d[1], "Mon 20 Oct 2025") {
			t.Errorf("date filter let %q through", d[1])
		}
	}
	// The audit log filters by record.
	sup.get("/portal/encounters/" + w.encounter)
	_, body = sup.get("/portal/audit?record=" + w.encounter)
	if !strings.Contains(body, "<td>read</td>") || strings.Contains(body, `"page":"dashboard"`) {
		t.Error("audit record filter")
	}
}
