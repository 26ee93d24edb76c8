package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures"
)

// clicker counts a user's clicks in a journey.
type clicker struct {
	c *chrome
	n int
}

// click clicks an element that opens a page (a link or a submit button)
// and waits for the next page.
func (k *clicker) click(sel string) {
	k.c.t.Helper()
	k.n++
	if _, err := chromedp.Run(k.c.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		k.c.t.Fatalf("click %s: %v", sel, err)
	}
	k.c.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	k.c.checkA11y()
}

func (c *chrome) num(js string) int {
	c.t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(c.eval("String(" + js + ")")))
	if err != nil {
		c.t.Fatalf("%s: %v", js, err)
	}
	return n
}

// TestSupervisorAnswersFromTheDashboard: the supervisor's questions of the
// day are answered from the dashboard in two clicks or fewer each, 40
// encounters are signed off in five clicks or fewer, a duplicate profile is
// merged in five, and a practitioner sees who referred, in real Chromium
// with axe-core on every page.
func TestSupervisorAnswersFromTheDashboard(t *testing.T) {
	srv := startServer(t)
	c := newChrome(t, srv.URL)
	supLogin, sup := demoLogin(t, "supervisor", 1)
	prLogin, pr := demoLogin(t, "practitioner", 1)
	worker := teamWorker(t, sup.TeamID)

	// A phone of the team raises an urgent concern and refers a young
	// person to the practitioner's service.
	c.signIn(supLogin)
	ph := c.enrolPhone(srv.URL, worker.ID)
	enc := lastLine(ph.run("add-encounter", "-area", "Skate park", "-note", "Quiet night; one worry raised."))
	ph.run("set", "-id", enc, "-field", "concern_level", "-value", `"urgent"`)
	yp := lastLine(ph.run("add-young-person", "-known-as", "Rhys"))
	ref := lastLine(ph.run("draft-referral", "-yp", yp, "-reason", "Wants help finding a room.", "-service", pr.ServiceID, "-urgency", "urgent"))
	ph.run("consent", "-id", ref, "-consent", "given")
	ph.run("submit-referral", "-id", ref)
	// Two workers met the same young person and made two profiles.
	var twins []string
	for range 2 {
		id := lastLine(ph.run("add-young-person", "-known-as", "Jaylen"))
		ph.run("set", "-id", id, "-field", "age_band", "-value", `"14-15"`)
		ph.run("set", "-id", id, "-field", "area", "-value", `"Skate park"`)
		twins = append(twins, id)
	}
	ph.run("sync")

	t.Run("who needs a follow-up today", func(t *testing.T) {
		c.visit("/portal/dashboard")
		k := &clicker{c: c}
		due := c.num(`document.querySelector("#card-today .num").textContent`)
		k.click("#card-today")
		if h := c.text("main h1"); h != "Follow-ups" {
			t.Fatalf("opened %q", h)
		}
		if rows := c.num(`document.querySelectorAll("#followup-list tbody tr td a[href*='worker=']").length`); rows != min(due, 50) {
			t.Errorf("%d follow-ups listed, the dashboard said %d due today", rows, due)
		}
		if k.n > 2 {
			t.Errorf("%d clicks", k.n)
		}
	})

	t.Run("which concerns are open", func(t *testing.T) {
		c.visit("/portal/dashboard")
		k := &clicker{c: c}
		open := c.num(`document.querySelector("#card-concerns .num").textContent`)
		if open < 1 {
			t.Fatalf("the urgent concern is not on the dashboard (%d open)", open)
		}
		k.click("#card-concerns")
		if got := c.num(`document.querySelectorAll("#concern-list tbody strong.tag").length`); got != open {
			t.Errorf("%d open concerns listed, the dashboard said %d", got, open)
		}
		if !strings.Contains(c.text("#concern-list"), "Skate park") {
			t.Error("the new urgent concern is not listed")
		}
		if k.n > 2 {
			t.Errorf("%d clicks", k.n)
		}
	})

	t.Run("which referrals wait longest", func(t *testing.T) {
		c.visit("/portal/dashboard")
		k := &clicker{c: c}
		// On the dashboard itself: most urgent first, then longest waiting.
		urg := c.eval(`[...document.querySelectorAll("#waiting-longest tbody tr td:nth-child(3)")].map(td => td.textContent).join(",")`)
		rank := map[string]int{"urgent": 0, "soon": 1, "routine": 2}
		last := -1
		for _, u := range strings.Split(urg, ",") {
			if rank[u] < last {
				t.Errorf("waiting list not most urgent first: %s", urg)
				break
			}
			last = rank[u]
		}
		if !strings.HasPrefix(urg, "urgent") {
			t.Errorf("the urgent referral is not first: %s", urg)
		}
		k.click("#card-waiting")
		if got := c.text("#h-list"); !strings.Contains(got, "submitted") {
			t.Errorf("opened %q", got)
		}
		if k.n > 2 {
			t.Errorf("%d clicks", k.n)
		}
	})

	t.Run("sign off 40 encounters", func(t *testing.T) {
		c.visit("/portal/dashboard")
		before := c.num(`document.querySelector("#card-review .num").textContent`)
		k := &clicker{c: c}
		k.click("#card-review")
		k.click("#select-all")
		ticked := c.num(`document.querySelectorAll("#encounter-list input[name=id]:checked").length`)
		if ticked < 40 {
			t.Fatalf("%d ticked", ticked)
		}
		c.do(chromedp.SendKeys(chromedp.ID("bulk-comment"), "Read tonight: thank you."))
		k.click("#bulk-signoff")
		if k.n > 5 {
			t.Errorf("%d clicks to sign off %d", k.n, ticked)
		}
		c.visit("/portal/dashboard")
		if after := c.num(`document.querySelector("#card-review .num").textContent`); before-after != ticked {
			t.Errorf("awaiting review %d -> %d after signing off %d", before, after, ticked)
		}
	})
	t.Run("merge a duplicate", func(t *testing.T) {
		c.visit("/portal/dashboard")
		k := &clicker{c: c}
		k.click(`nav a[href$="/young-people"]`)
		k.click("#duplicates-link")
		k.click(fmt.Sprintf(`#duplicate-list a.button[href*=%q][href*=%q]`, twins[0], twins[1]))
		c.do(chromedp.SendKeys(chromedp.ID("merge-reason"), "Same young person: both workers met him at the skate park."))
		k.n++ // the confirmation tick
		c.do(chromedp.Click(chromedp.ID("merge-confirm")))
		k.click(`#merge-form button[type=submit]`)
		if s := c.text("main"); !strings.Contains(s, "Profiles merged") {
			t.Fatalf("after merging: %s", s)
		}
		if k.n > 5 {
			t.Errorf("%d clicks to merge", k.n)
		}
		ph.run("sync")
		merged := 0
		for _, id := range twins {
			if strings.Contains(ph.run("show", "-id", id), "merged_into") {
				merged++
			}
		}
		if merged != 1 {
			t.Errorf("the phone sees %d of the two profiles merged, want 1", merged)
		}
	})
	c.signOut()

	t.Run("a practitioner sees who referred", func(t *testing.T) {
		c.signIn(prLogin)
		k := &clicker{c: c}
		k.click(fmt.Sprintf(`#service-list a[href*=%q]`, ref))
		who := c.text("#referrer")
		if !strings.Contains(who, worker.Name) {
			t.Errorf("who referred: %q, want %s", who, worker.Name)
		}
		if k.n > 2 {
			t.Errorf("%d clicks", k.n)
		}
		c.signOut()
	})
}

// TestEveryPageAtPhoneAndDesktopWidth opens every portal page of every
// role at 390 px and 1280 px: axe-core finds nothing critical or serious,
// nothing is wider than the screen, the navigation folds to one line on a
// phone and stays on one line at 1280 px (the admin's too), Encounters'
// Concern and Review and Devices' revoke are on screen, chart labels are
// legible and charts fill their card. Screenshots of each go to
// artifacts/screenshots/portal/.
func TestEveryPageAtPhoneAndDesktopWidth(t *testing.T) {
	srv := startServer(t)
	c := newChrome(t, srv.URL)
	c.shots = filepath.Join(c.shots, "portal")
	if err := os.MkdirAll(c.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	supLogin, sup := demoLogin(t, "supervisor", 1)
	prLogin, _ := demoLogin(t, "practitioner", 1)
	admLogin, _ := demoLogin(t, "admin", 1)

	// An active phone, so Devices has a revoke form.
	c.signIn(supLogin)
	c.enrolPhone(srv.URL, teamWorker(t, sup.TeamID).ID)
	firstLink := func(list, sel string) string {
		c.visit(list)
		return c.eval(`document.querySelector(` + strconv.Quote(sel) + `).getAttribute("href")`)
	}
	encID := firstLink("/portal/encounters", "#encounter-list tbody a")
	ypID := firstLink("/portal/young-people", "table.list tbody a")
	refID := firstLink("/portal/referrals", "#referral-list tbody a")
	c.signOut()

	pages := map[string][]string{
		"supervisor": {"/portal/dashboard", "/portal/encounters", encID, "/portal/follow-ups?when=today", "/portal/caseload",
			"/portal/young-people", "/portal/young-people/duplicates", ypID, ypID + "/summary", ypID + "/access", ypID + "/erase", "/portal/referrals", refID, "/portal/services",
			"/portal/devices", "/portal/transfers", "/portal/reports", "/portal/audit", "/portal/quarantine", "/portal/concerns",
			"/portal/conflicts", "/portal/search?q=ho", "/portal/account"},
		"admin": {"/portal/admin/people", "/portal/admin/people/new", "/portal/admin/people/import",
			"/portal/admin/teams", "/portal/admin/services/new", "/portal/retention", "/portal/service"},
		"practitioner": {"/portal/service", "/portal/services"},
	}
	logins := map[string]fixtures.Login{"supervisor": supLogin, "admin": admLogin, "practitioner": prLogin}
	for _, role := range []string{"supervisor", "admin", "practitioner"} {
		c.do(chromedp.EmulateViewport(1280, 900))
		c.signIn(logins[role])
		for i, path := range pages[role] {
			name := fmt.Sprintf("%s-%02d-%s", role, i, slug(path))
			for _, width := range []int64{1280, 390} {
				c.atWidth(width)
				// axe-core checks each page once, at phone width, where
				// layouts are tightest (the journeys check it at 1280 px).
				c.do(chromedp.Navigate(c.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
				if width == 390 {
					c.checkA11y()
				}
				c.shot(fmt.Sprintf("%s-%d", name, width))
				c.checkLayout(path, width)
			}
		}
		if role == "supervisor" {
			c.welshPass()
		}
		c.do(chromedp.EmulateViewport(1280, 900))
		c.signOut()
	}
}

// welshPass chooses Cymraeg on the account page, as a person would, checks
// the pages with the longest Welsh words at both widths, and goes back to
// English.
func (c *chrome) welshPass() {
	c.t.Helper()
	c.atWidth(1280)
	c.chooseLanguage("cy", "cy")
	for _, path := range []string{"/portal/dashboard", "/portal/encounters", "/portal/devices", "/portal/reports"} {
		for _, width := range []int64{1280, 390} {
			c.atWidth(width)
			c.visit(path)
			c.shot(fmt.Sprintf("cy-%s-%d", slug(path), width))
			c.checkLayout(path, width)
		}
	}
	c.atWidth(1280)
	c.chooseLanguage("", "en-GB") // the browser's
}

// chooseLanguage saves a language on the account page and checks the page
// that follows is in wantLang.
func (c *chrome) chooseLanguage(code, wantLang string) {
	c.t.Helper()
	c.visit("/portal/account")
	c.do(chromedp.SetValue(chromedp.ID("lang"), code))
	c.submit("#save-language")
	if lang := c.eval(`document.documentElement.lang`); lang != wantLang {
		c.t.Fatalf("after choosing %q the page is in %q", code, lang)
	}
}

// checkLayout asserts what a page must be at a width.
func (c *chrome) checkLayout(path string, width int64) {
	c.t.Helper()
	at := fmt.Sprintf("%s at %d px", path, width)
	if sw := c.num(`document.documentElement.scrollWidth`); sw > int(width)+1 {
		c.t.Errorf("%s: the page is %d px wide", at, sw)
	}
	header := c.num(`Math.round(document.querySelector("header.top").getBoundingClientRect().height)`)
	if header > 70 {
		c.t.Errorf("%s: the header is %d px high (wraps)", at, header)
	}
	onScreen := func(sel string) {
		c.t.Helper()
		r := c.num(`(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (!e) return -1; const b = e.getBoundingClientRect(); return Math.round(b.right); })()`)
		if r < 0 || r > int(width) {
			c.t.Errorf("%s: %s is off screen (right edge %d)", at, sel, r)
		}
	}
	switch {
	case width == 390 && path == "/portal/devices":
		onScreen("#device-list details.danger-zone summary")
		// The revoke form opens in place and its button is reachable.
		c.eval(`document.querySelector("#device-list details.danger-zone").open = true; ""`)
		onScreen("#device-list details.danger-zone button.danger")
	case width == 390 && path == "/portal/encounters":
		onScreen(`#encounter-list tbody tr td[data-label]:nth-of-type(2) .tag, #encounter-list tbody tr td:nth-child(3)`)
		onScreen(`#encounter-list tbody tr td:nth-child(4) .tag`)
	case path == "/portal/reports":
		if px := c.num(`Math.round(parseFloat(getComputedStyle(document.querySelector(".bar-lbl")).fontSize))`); px < 12 {
			c.t.Errorf("%s: chart labels are %d px", at, px)
		}
		fill := c.num(`Math.round(100 * document.querySelector(".bars").getBoundingClientRect().width / document.querySelector(".chartbox").clientWidth)`)
		if fill < 90 {
			c.t.Errorf("%s: a chart fills %d%% of its card", at, fill)
		}
	}
	if width == 390 {
		// The menu is folded: one tap opens it.
		if vis := c.eval(`getComputedStyle(document.querySelector("header.top nav")).display`); vis != "none" {
			c.t.Errorf("%s: the menu is open before a tap (%s)", at, vis)
		}
		c.do(chromedp.Click(chromedp.CSS(".menu-button")))
		if vis := c.eval(`getComputedStyle(document.querySelector("header.top nav")).display`); vis == "none" {
			c.t.Errorf("%s: the Menu button does not open the menu", at)
		}
	}
}

// teamWorker is the demo's first youth worker of a team.
func teamWorker(t *testing.T, teamID string) fixtures.Person {
	t.Helper()
	for _, p := range fixtures.Generate(fixtures.Demo()).Org.People {
		if p.Role == "worker" && p.TeamID == teamID {
			return p
		}
	}
	t.Fatalf("no worker in team %s", teamID)
	return fixtures.Person{}
}

// enrolPhone issues an enrolment code on the Devices page (as the signed-in
// supervisor) and enrols a fieldsim phone with it.
func (c *chrome) enrolPhone(server, personID string) *phone {
	c.t.Helper()
	c.visit("/portal/devices")
	c.do(chromedp.SetValue(chromedp.ID("person"), personID))
	c.submit("#issue")
	ph := newPhone(c.t)
	ph.run("enrol", "-server", server, "-code", strings.TrimSpace(c.text("#code")))
	return ph
}

// atWidth makes the tab a phone (390 px, touch) or a laptop (1280 px).
func (c *chrome) atWidth(width int64) {
	c.t.Helper()
	if width == 390 {
		c.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
		return
	}
	c.do(chromedp.EmulateViewport(width, 900))
}

func slug(path string) string {
	s := strings.NewReplacer("/portal/", "", "/", "-", "?", "-", "=", "-", "&", "-").Replace(path)
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "home"
	}
	return s
}
