package portal

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
	"golang.org/x/net/html"
)

// englishWords are common English words that are not Welsh words: a text
// of a Welsh page holding one (outside the records' own data) is English
// left behind.
var englishWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the and of to are was were for with your you this that from by not has have
		will be or on in it its all any who what when here there been can cannot open none new page back sign save show
		no yes due today week people young record records referral referrals encounter encounters follow-up
		follow-ups service services team teams worker workers supervisor admin review signed off waiting concern concerns
		high urgent low medium routine soon submitted accepted declined withdrawn closed draft active revoked never ago
		minutes hours days minute hour day phone phones device devices report reports audit search filter clear order
		newest oldest area any anyone nobody nothing`) {
		englishWords[w] = true
	}
}

// wordRe finds words with the digits they are written with: a token that
// holds a digit is an id or a hash (an audit entry's "…57be7b…"), not a word.
var wordRe = regexp.MustCompile(`[\p{L}\p{N}'’-]+`)

// welshPage is one page walked in Welsh and what it must answer.
type welshPage struct {
	role, method, path string
	form               url.Values
	want               int
}

// TestEveryPageInWelsh walks every portal page, as every role, with
// Accept-Language: cy, and fails on any catalogue miss (recorded at lookup)
// and on any English word left in the page's text outside the records'
// own data (names, areas, narratives).
func TestEveryPageInWelsh(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	alert := ""
	if as, err := env.db.ConcernAlerts(ctx, domain.ConcernAlertFilter{}); err == nil && len(as) > 0 {
		alert = as[0].EncounterID
	}
	data := dataStrings(t, env)

	var pages []welshPage
	get := func(role string, paths ...string) {
		for _, p := range paths {
			pages = append(pages, welshPage{role: role, method: "GET", path: p, want: http.StatusOK})
		}
	}
	for _, role := range []string{"supervisor", "admin"} {
		get(role, "/portal/dashboard", "/portal/encounters", "/portal/encounters?status=awaiting_review",
			"/portal/encounters?concern=yes&sort=concern", "/portal/encounters?deleted=1",
			"/portal/follow-ups?when=overdue", "/portal/follow-ups?when=today", "/portal/follow-ups?when=week", "/portal/follow-ups?when=open",
			"/portal/caseload", "/portal/young-people", "/portal/young-people?hold=1", "/portal/referrals", "/portal/referrals?status=submitted",
			"/portal/services", "/portal/devices", "/portal/transfers", "/portal/reports", "/portal/reports?from=2020-01-01&to=2020-01-02",
			"/portal/audit", "/portal/quarantine", "/portal/concerns", "/portal/conflicts", "/portal/search?q=ho", "/portal/account")
	}
	get("supervisor", "/portal/young-people/duplicates", "/portal/young-people/"+w.yp+"/summary",
		"/portal/young-people/merge?a="+w.yp+"&b="+w.ypHold)
	get("supervisor", "/portal/encounters/"+w.encounter, "/portal/young-people/"+w.yp, "/portal/young-people/"+w.ypHold,
		"/portal/young-people/"+w.yp+"/access", "/portal/young-people/"+w.yp+"/erase", "/portal/referrals/"+w.submitted,
		"/portal/services/"+w.service)
	if alert != "" {
		get("supervisor", "/portal/encounters/"+alert)
	}
	for key := range flashMessages {
		get("supervisor", "/portal/dashboard?done="+key)
	}
	get("admin", "/portal/admin/people", "/portal/admin/people/new", "/portal/admin/people/"+w.worker, "/portal/admin/people/"+w.supervisor,
		"/portal/admin/people/import", "/portal/admin/teams", "/portal/admin/services/new", "/portal/retention", "/portal/service",
		"/portal/service?service="+w.service, "/portal/services/"+w.service)
	get("practitioner", "/portal/service", "/portal/service/referrals/"+w.submitted, "/portal/services", "/portal/services/"+w.service, "/portal/account")
	pages = append(pages,
		welshPage{"supervisor", "GET", "/portal/encounters?sort=sideways", nil, http.StatusUnprocessableEntity},
		welshPage{"supervisor", "GET", "/portal/no-such-page", nil, http.StatusNotFound},
		welshPage{"practitioner", "GET", "/portal/dashboard", nil, http.StatusForbidden},
		welshPage{"supervisor", "POST", "/portal/devices/code", url.Values{"person": {w.worker}}, http.StatusOK},
		welshPage{"admin", "POST", "/portal/admin/people/" + w.worker + "/password-link", nil, http.StatusOK},
		welshPage{"admin", "POST", "/portal/admin/people/import", url.Values{"csv": {"name,email\nA,not-an-address"}}, http.StatusUnprocessableEntity},
		welshPage{"supervisor", "POST", "/portal/referrals/" + w.submitted + "/withdraw", url.Values{"reason": {""}}, http.StatusUnprocessableEntity},
		welshPage{"admin", "POST", "/portal/admin/people/" + w.worker2 + "/deactivate", url.Values{"confirm": {w.worker2}}, http.StatusOK},
	)

	clients := map[string]*client{}
	for _, role := range []string{"supervisor", "admin", "practitioner"} {
		c := env.signIn(role, 1)
		c.lang = "cy"
		clients[role] = c
	}
	// A saved filter, so the lists show theirs.
	if status, body := clients["supervisor"].post("/portal/saved-filters", url.Values{"list": {"encounters"}, "query": {"status=awaiting_review"}, "name": {"To read"}}); status != http.StatusSeeOther {
		t.Fatalf("save a filter: %d\n%s", status, trunc(body))
	}
	anon := env.anon()
	anon.lang = "cy-GB, en;q=0.5"
	i18n.Misses() // forget what signing in looked up in English
	check := func(label, body string) {
		t.Helper()
		if !strings.Contains(body, `<html lang="cy">`) {
			t.Errorf("%s: not served in Welsh", label)
		}
		for _, m := range i18n.Misses() {
			t.Errorf("%s: catalogue miss %s", label, m)
		}
		for _, s := range englishLeft(body, data) {
			t.Errorf("%s: English left: %q", label, s)
		}
	}
	for _, pg := range pages {
		c := clients[pg.role]
		var status int
		var body string
		if pg.method == "POST" {
			status, body = c.post(pg.path, pg.form)
		} else {
			status, body = c.get(pg.path)
		}
		if status != pg.want {
			t.Errorf("%s %s as %s: status %d, want %d\n%s", pg.method, pg.path, pg.role, status, pg.want, trunc(body))
			continue
		}
		check(pg.role+" "+pg.method+" "+pg.path, body)
	}
	for _, path := range []string{"/portal/login", "/portal/login?done=signed-out", "/portal/set-password?token=nope"} {
		status, body := anon.get(path)
		if status != http.StatusOK && status != http.StatusGone {
			t.Errorf("GET %s: %d", path, status)
		}
		check("anonymous "+path, body)
	}
	_, body := anon.signIn("nobody@example.org", "wrong password")
	check("failed sign-in", body)
}

// dataStrings are the words the records and the organisation hold: they
// are shown as written, in whatever language they were written.
func dataStrings(t *testing.T, env *testEnv) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	rs, err := env.db.Records(ctx, domain.RecordFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		v := r.View(nil)
		for _, raw := range v.Values {
			if s := displayValue(raw); len(s) > 1 && !strings.HasPrefix(s, "[") {
				out = append(out, s)
			}
		}
	}
	ps, _ := env.db.People(ctx, domain.PeopleFilter{})
	for _, p := range ps {
		out = append(out, p.Name, p.Email)
	}
	ts, _ := env.db.Teams(ctx)
	for _, x := range ts {
		out = append(out, x.Name)
	}
	as, _ := env.db.Areas(ctx)
	for _, x := range as {
		out = append(out, x.Name)
	}
	ss, _ := env.db.Services(ctx)
	for _, x := range ss {
		out = append(out, x.Name, x.Contact, x.Pathway)
	}
	out = append(out, "JoinedUp", "Europe/London", "CSV", "JSON", "Microsoft Authenticator", "Google Authenticator", "CAMHS", "Cymraeg", "English")
	out = append(out, syncengine.ReferralFields...)
	out = append(out, strings.Join(importColumns, ","), "To read") // and the saved filter TestEveryPageInWelsh names
	// Longest first, so a name inside a longer text goes with it.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// englishLeft lists the visible texts of a page (and the attributes a
// screen reader speaks) that still hold an English word once the data
// they show is taken out.
func englishLeft(page string, data []string) []string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return []string{"unparseable page: " + err.Error()}
	}
	var texts []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "style", "code", "textarea":
				return
			}
			for _, a := range n.Attr {
				switch a.Key {
				case "aria-label", "title", "placeholder", "alt", "data-label":
					texts = append(texts, a.Val)
				}
			}
			// A control's value is data (a person's name in a form), except
			// a button's.
			if n.Data == "input" && attr(n, "type") == "submit" {
				texts = append(texts, attr(n, "value"))
			}
		}
		if n.Type == html.TextNode {
			texts = append(texts, n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	var left []string
	seen := map[string]bool{}
	for _, s := range texts {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] || !hasEnglish(s) {
			continue
		}
		seen[s] = true
		if isData(s, data) {
			continue
		}
		rest := s
		for _, d := range data {
			if strings.Contains(rest, d) {
				rest = strings.ReplaceAll(rest, d, " ")
			}
		}
		if hasEnglish(rest) {
			left = append(left, s)
		}
	}
	return left
}

// isData reports whether s is data the page quotes rather than its own
// words: an audit entry's detail (JSON) or an excerpt ("…text…") of a record.
func isData(s string, data []string) bool {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		return true
	}
	quoted := func(part string) bool {
		part = strings.TrimSpace(strings.Trim(strings.TrimSpace(part), "…"))
		if part == "" {
			return true
		}
		for _, d := range data {
			if strings.Contains(d, part) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.Contains(s, "[redacted]"): // an erasure's preview of a narrative
		for _, part := range strings.Split(s, "[redacted]") {
			if !quoted(part) {
				return false
			}
		}
		return true
	case strings.HasPrefix(s, "…") || strings.HasSuffix(s, "…"):
		return quoted(s)
	}
	return false
}

func hasEnglish(s string) bool {
	for _, w := range wordRe.FindAllString(s, -1) {
		if englishWords[strings.ToLower(w)] && !strings.ContainsAny(w, "0123456789") {
			return true
		}
	}
	return false
}

func TestHasEnglish(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Save", true},
		{"Cadw", false},
		{"to be reviewed", true},
		{"2867231aea05620c57be7b2078d46d33", false}, // an audit hash holding "be"
		{"enc-000003 fu-00025", false},
		{"be-7", false},
		{"follow-up", true},
	} {
		if got := hasEnglish(tc.s); got != tc.want {
			t.Errorf("hasEnglish(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// templateKeys are the catalogue keys the templates name: {{t "…"}} and {{th "…"}}.
var templateKeyRe = regexp.MustCompile(`\b(?:t|th) "((?:[^"\\]|\\.)*)"`)

// goKeyRe finds keys in the portal's Go: refusals, titles and T calls.
var goKeyRe = regexp.MustCompile(`(?:invalid\(|refusal\(domain\.\w+, |\.T\(|p\.render\(c, "\w+", |transferError\(c, err, |ssoRefused\(c, [^,]+, [^,]+, |Page\(c, fiber\.\w+, )"((?:[^"\\]|\\.)*)"`)

// TestWelshCatalogueHasEveryKey reads every key the portal can show (in its
// templates and Go, and the vocabularies and tables it words) and fails on
// any the Welsh catalogue lacks, so a page no walk reaches is covered too.
func TestWelshCatalogueHasEveryKey(t *testing.T) {
	keys := map[string]string{} // key -> where
	add := func(where string, ks ...string) {
		for _, k := range ks {
			if k != "" && k != "%s" {
				keys[k] = where
			}
		}
	}
	files, _ := filepath.Glob("templates/*.html")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range templateKeyRe.FindAllStringSubmatch(string(b), -1) {
			add(f, strings.ReplaceAll(m[1], `\"`, `"`))
		}
	}
	gofiles, _ := filepath.Glob("*.go")
	for _, f := range gofiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range goKeyRe.FindAllStringSubmatch(string(b), -1) {
			add(f, m[1])
		}
	}
	for _, v := range flashMessages {
		add("flash", v)
	}
	for _, v := range fieldLabels {
		add("fieldLabels", v)
	}
	for _, w := range followUpWindows {
		add("followUpWindows", w.Label)
	}
	add("acceptanceBuckets", acceptanceBuckets...)
	add("kinds", "Encounter", "Referral", "Young person")
	pr := i18n.For(i18n.Welsh)
	vocab := [][]string{syncengine.AgeBands, syncengine.Genders, syncengine.Topics, syncengine.ConcernLevels, syncengine.ServiceKinds,
		referralStatuses, {"routine", "soon", "urgent", "not_asked", "given", "refused", "shared_without_consent",
			"awaiting_review", "signed_off", "supervisor", "admin", "practitioner", "worker", "pending", "accepted", "declined", "cancelled",
			"encounter", "young_person", "referral", "follow_up", "release", "discard", "safeguarding", "legal"}}
	for _, list := range vocab {
		for _, v := range list {
			pr.Value(v)
		}
	}
	for k, where := range keys {
		if !i18n.Has(i18n.Welsh, k) {
			t.Errorf("%s: no Welsh for %q", where, k)
		}
	}
	for _, m := range i18n.Misses() {
		t.Errorf("vocabulary: no Welsh for %s", m)
	}
}

// TestLanguageChoice: a person's own choice beats the browser's
// Accept-Language, only offered languages are stored, the form needs the
// session's CSRF token, and clearing the choice gives the browser's back.
func TestLanguageChoice(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	sup.lang = "en-GB"
	lang := func() string {
		t.Helper()
		_, body := sup.get("/portal/dashboard")
		m := regexp.MustCompile(`<html lang="([^"]+)">`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no html lang")
		}
		return m[1]
	}
	for _, tc := range []struct {
		name       string
		form       url.Values
		wantStatus int
		wantLang   string
	}{
		{"choose Welsh", url.Values{"lang": {"cy"}}, http.StatusSeeOther, "cy"},
		{"a language not offered", url.Values{"lang": {"fr"}}, http.StatusUnprocessableEntity, "cy"},
		{"a value that is no language", url.Values{"lang": {"<script>"}}, http.StatusUnprocessableEntity, "cy"},
		{"a forged form without the token", url.Values{"lang": {"en"}, "_csrf": {"forged"}}, http.StatusForbidden, "cy"},
		{"back to the browser's", url.Values{"lang": {""}}, http.StatusSeeOther, "en-GB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := sup.post("/portal/account/language", tc.form); status != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", status, tc.wantStatus, trunc(body))
			}
			if got := lang(); got != tc.wantLang {
				t.Fatalf("pages in %q, want %q", got, tc.wantLang)
			}
		})
	}
}
