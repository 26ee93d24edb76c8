package webapp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
)

// portalMerge merges lose into keep as the demo team's supervisor does in
// the portal: signed in, the merge form posted with a reason and the
// confirmation.
func portalMerge(t *testing.T, base, keep, lose string) {
	t.Helper()
	var sup fixtures.Login
	for _, l := range fixtures.DemoLogins(fixtures.Generate(fixtures.Demo()).Org) {
		if l.Role == "supervisor" {
			sup = l
			break
		}
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	csrf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: HTTP %d\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	token := func(body string) string {
		t.Helper()
		m := csrf.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token in\n%s", body)
		}
		return m[1]
	}
	body := page(hc.Get(base + "/portal/login"))
	body = page(hc.PostForm(base+"/portal/login", url.Values{"_csrf": {token(body)}, "email": {sup.Email}, "password": {sup.Password}}))
	if !strings.Contains(body, sup.Name) {
		t.Fatalf("the supervisor could not sign in:\n%s", body)
	}
	body = page(hc.PostForm(base+"/portal/young-people/merge", url.Values{"_csrf": {token(body)}, "a": {keep}, "b": {lose}, "keep": {keep},
		"reason": {"Same young person: both profiles were made on the street."}, "confirm": {"yes"}}))
	if !strings.Contains(body, "Profiles merged") {
		t.Fatalf("the merge did not happen:\n%s", body)
	}
}

// TestFieldAppTeamRosterMergedProfilesAndWelsh, in Chromium against the
// real server, in Welsh:
//   - a server refusal (a wrong enrolment code) shows the server's Welsh;
//   - "workers present" offers the team's roster by name, never another
//     team's people, and a colleague ticked there is saved on the encounter;
//   - a save the engine refuses on the phone (map coordinates in the area)
//     is explained in Welsh;
//   - after the supervisor merges two profiles in the portal, the young
//     people list, its search and the "young people met" picker show only
//     the kept profile, and its chronology holds an encounter this phone
//     wrote about the merged profile while offline during the merge.
func TestFieldAppTeamRosterMergedProfilesAndWelsh(t *testing.T) {
	e := setup(t)
	browser := newBrowser(t, e.chrome)
	b, _ := open(t, browser, e.base+"/app/", e.shots, false)
	b.eval(`(localStorage.setItem("lang", "en"), "ok")`)
	b.visible("enrol")
	b.click("#lang")
	b.waitFor(`document.documentElement.lang === "cy"`)

	// A server refusal, in Welsh.
	b.do(chromedp.SetValue(chromedp.ID("code"), "NOPE-NOPE-NOPE"), chromedp.Click(chromedp.ID("enrol-go")))
	b.waitFor(`document.getElementById("enrol-error").textContent !== ""`)
	if msg := b.eval(`document.getElementById("enrol-error").textContent`); !strings.Contains(msg, "Ni weithiodd y cod hwnnw: nid yw'r cod cofrestru yn ddilys") {
		t.Fatalf("a wrong code in Welsh: %q", msg)
	}
	b.shot("20-enrol-refused-cymraeg")
	b.do(chromedp.SetValue(chromedp.ID("code"), code(t, e.base, e.workers[0])), chromedp.Click(chromedp.ID("enrol-go")))
	b.visible("home")
	b.syncNow()

	// Workers present: the team's roster by name.
	org := fixtures.Generate(fixtures.Demo()).Org
	team := ""
	for _, p := range org.People {
		if p.ID == e.workers[0] {
			team = p.TeamID
		}
	}
	var mine, others []string
	for _, p := range org.People {
		switch {
		case p.ID == e.workers[0]:
		case p.TeamID == team && (p.Role == "worker" || p.Role == "supervisor"):
			mine = append(mine, p.Name)
		default:
			others = append(others, p.Name)
		}
	}
	b.click("#add")
	b.visible("new")
	b.waitFor(fmt.Sprintf(`document.querySelectorAll("#enc-workers label").length === %d`, len(mine)+1))
	var shown []string
	must(t, json.Unmarshal([]byte(b.eval(`JSON.stringify([...document.querySelectorAll("#enc-workers label:not(#enc-me)")].map((l) => l.textContent.trim()))`)), &shown))
	slices.Sort(shown)
	slices.Sort(mine)
	if !slices.Equal(shown, mine) {
		t.Fatalf("workers present offers %v, want the team's %v", shown, mine)
	}
	for _, o := range others {
		if !slices.Contains(mine, o) && slices.Contains(shown, o) {
			t.Fatalf("workers present offers %s of another team", o)
		}
	}
	b.do(chromedp.SetValue(chromedp.ID("area"), "Roster corner"))
	b.click(fmt.Sprintf(`#enc-workers input[value=%q]`, e.workers[1]))
	b.check("21-workers-present-cymraeg")
	b.click("#save")
	b.visible("home")
	if got := b.eval(`joinedup.encounters().then((l) => JSON.stringify(l.find((x) => x.values.area === "Roster corner").values.workers.sort()))`); got != mustJSON(t, sorted(e.workers[0], e.workers[1])) {
		t.Fatalf("the encounter's workers are %s, want this worker and the colleague ticked", got)
	}
	b.syncNow()

	// A save the engine refuses on the phone, explained in Welsh.
	b.click("#add")
	b.visible("new")
	b.do(chromedp.SetValue(chromedp.ID("area"), "51.4816, -3.1791"))
	b.click("#save")
	b.waitFor(`document.getElementById("enc-error").textContent !== ""`)
	if msg := b.eval(`document.getElementById("enc-error").textContent`); !strings.Contains(msg, "Heb ei gadw: Ardal: dim cyfesurynnau map") || strings.Contains(msg, "nocoords") {
		t.Fatalf("coordinates in the area, in Welsh: %q", msg)
	}
	b.check("22-validation-cymraeg")
	b.click("#cancel")

	// Two profiles of one young person; this phone, offline, meets them
	// under the one the supervisor is about to merge away.
	b.click(`#nav [data-go="people"]`)
	for _, name := range []string{"Marlowe K", "Marlow K"} {
		b.click("#yp-add")
		b.visible("person-new")
		b.do(chromedp.SetValue(chromedp.ID("known-as"), name))
		b.click("#yp-save")
		b.visible("people")
	}
	id := func(name string) string {
		return b.eval(fmt.Sprintf(`joinedup.list("young_person").then((l) => l.find((y) => y.values.known_as === %q).id)`, name))
	}
	keep, lose := id("Marlowe K"), id("Marlow K")
	b.syncNow()
	b.offline(true)
	b.click(`#nav [data-go="home"]`)
	b.click("#add")
	b.visible("new")
	b.do(chromedp.SetValue(chromedp.ID("area"), "Late corner"))
	b.click(fmt.Sprintf(`#enc-yp input[value=%q]`, lose))
	b.click("#save")
	b.waitFor(`document.getElementById("pending").textContent === "1"`)
	portalMerge(t, e.base, keep, lose)
	b.offline(false)
	b.syncNow()
	b.waitFor(fmt.Sprintf(`joinedup.get(%q).then((y) => y.values.merged_into === %q)`, lose, keep))

	b.click(`#nav [data-go="people"]`)
	b.visible("people")
	b.do(chromedp.SetValue(chromedp.ID("yp-search"), "Marlow"))
	b.eval(`(document.getElementById("yp-search").dispatchEvent(new Event("input")), "ok")`)
	b.waitFor(`document.querySelectorAll("#yp-list li").length > 0`)
	if got := b.eval(`JSON.stringify([...document.querySelectorAll("#yp-list li strong")].map((s) => s.textContent))`); got != `["Marlowe K"]` {
		t.Fatalf("searching after the merge finds %s, want only the kept profile", got)
	}
	b.click("#yp-list li button")
	b.visible("person")
	b.waitFor(`document.getElementById("chronology").textContent.includes("Late corner")`)
	b.check("23-merged-chronology-cymraeg")

	b.click(`#nav [data-go="home"]`)
	b.click("#add")
	b.visible("new")
	picker := b.eval(`JSON.stringify([...document.querySelectorAll("#enc-yp label")].map((l) => l.textContent.trim()))`)
	if !strings.Contains(picker, `"Marlowe K"`) || strings.Contains(picker, `"Marlow K"`) {
		t.Fatalf("young people met offers %s: want the kept profile and not the merged one", picker)
	}
	b.click("#cancel")
}

func sorted(xs ...string) []string { slices.Sort(xs); return xs }

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
