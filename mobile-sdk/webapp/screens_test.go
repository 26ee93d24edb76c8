package webapp_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/joinedup/joinedup/fixtures/axe"
)

// check screenshots the screen at 360 px (artifacts/screenshots/webapp/)
// and runs axe-core over it: no critical or serious violation.
func (b *tab) check(name string) {
	b.t.Helper()
	b.shot(name)
	vs, err := axe.Check(b.ctx)
	if err != nil {
		b.t.Fatalf("%s: axe: %v", name, err)
	}
	for _, v := range axe.Serious(vs) {
		b.t.Errorf("%s: %s", name, v)
	}
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

func (b *tab) visible(id string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf(`!document.getElementById(%q).hidden`, id))
}

// TestFieldAppEveryScreen walks a worker through every screen of the app at
// 360 px, in English and Welsh, with a screenshot and an axe-core check of
// each: enrol, tonight, a new encounter, editing a note, young people (find,
// add, chronology), a referral shared without consent (refused until it
// says why), follow-ups, a conflict chosen side by side, sync status,
// offline, and sign-out refused while a save is unsent. Nothing personal
// ever appears in the URL or the history.
func TestFieldAppEveryScreen(t *testing.T) {
	e := setup(t)
	browser := newBrowser(t, e.chrome)
	b, _ := open(t, browser, e.base+"/app/", e.shots, false)
	b.eval(`(localStorage.setItem("lang", "en"), "ok")`)
	history := b.eval(`String(history.length)`) // the tab's blank page and the app
	b.visible("enrol")
	b.check("01-enrol")
	// What the portal's QR code holds, as a scan (or a paste) gives it: a
	// code for another server is refused here, never sent.
	enrolCode := code(t, e.base, e.workers[0])
	qr := func(server string) string {
		return "joinedup://enrol?" + url.Values{"server": {server}, "code": {enrolCode}}.Encode()
	}
	b.do(chromedp.SetValue(chromedp.ID("code"), qr("https://elsewhere.example")), chromedp.Click(chromedp.ID("enrol-go")))
	b.waitFor(`document.getElementById("enrol-error").textContent.includes("another server")`)
	b.do(chromedp.SetValue(chromedp.ID("code"), qr(e.base)), chromedp.Click(chromedp.ID("enrol-go")))
	b.waitFor(`!document.getElementById("home").hidden && document.getElementById("last-synced").textContent !== "never"`)
	b.waitFor(`document.getElementById("encounters").dataset.shown === "1"`)
	b.check("02-tonight")

	// A new encounter with a topic and a tally.
	b.click("#add")
	b.visible("new")
	b.do(chromedp.SetValue(chromedp.ID("area"), "Conflict corner"), chromedp.SetValue(chromedp.ID("note"), "Quiet night."),
		chromedp.SetValue(chromedp.ID("tally-14-15"), "2"))
	b.click(`input[value="housing"]`)
	b.check("03-new-encounter")
	b.click("#save")
	b.waitFor(`document.getElementById("encounters").textContent.includes("Conflict corner")`)
	b.waitFor(`document.getElementById("pending").textContent === "0"`)
	b.eval(fmt.Sprintf(`(() => { for (const li of document.querySelectorAll("#encounters li"))
		if (li.querySelector("strong").textContent === %q) { li.querySelector("button.edit").click(); return "ok"; } return "none"; })()`, "Conflict corner"))
	b.visible("edit")
	b.check("04-edit-note")
	b.click("#edit-cancel")

	// Young people: find, add, chronology.
	b.click(`#nav [data-go="people"]`)
	b.visible("people")
	b.check("05-young-people")
	b.click("#yp-add")
	b.visible("person-new")
	b.do(chromedp.SetValue(chromedp.ID("known-as"), "Sky"))
	b.check("06-new-young-person")
	b.click("#yp-save")
	b.visible("people")
	b.do(chromedp.SetValue(chromedp.ID("yp-search"), "Sky"))
	b.eval(`(document.getElementById("yp-search").dispatchEvent(new Event("input")), "ok")`)
	b.waitFor(`document.querySelectorAll("#yp-list li").length === 1`)
	b.click("#yp-list li button")
	b.visible("person")
	b.check("07-chronology")

	// A referral shared without consent: refused until it says why.
	b.click("#refer")
	b.visible("referral")
	b.waitFor(`document.querySelectorAll("#ref-service option").length > 1`)
	b.eval(`(() => { const s = document.getElementById("ref-service"); s.value = s.options[1].value; return s.value; })()`)
	b.do(chromedp.SetValue(chromedp.ID("ref-reason"), "Needs somewhere to stay this week."))
	b.click(`#ref-form input[value="urgent"]`)
	b.click(`#ref-form input[value="shared_without_consent"]`)
	b.visible("ref-justify")
	b.check("08-referral")
	b.click("#ref-submit")
	b.waitFor(`document.getElementById("ref-error").textContent !== ""`)
	if !strings.Contains(b.eval(`document.getElementById("ref-error").textContent`), "without consent") {
		t.Fatalf("a referral shared without consent and without a reason was not stopped: %q", b.eval(`document.getElementById("ref-error").textContent`))
	}
	b.do(chromedp.SetValue(chromedp.ID("ref-justification"), "Risk of harm tonight; the designated lead agreed."))
	b.click("#ref-submit")
	b.visible("person")
	b.waitFor(`document.getElementById("chronology").textContent.includes("Submitted")`)

	// Follow-ups: one made on another of this worker's phones arrives here.
	sim := t.TempDir()
	fieldsim(t, e.bin, sim, "enrol", "-server", e.base, "-code", code(t, e.base, e.workers[0]))
	fieldsim(t, e.bin, sim, "add-followup", "-due", time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339), "-note", "Check in about the housing form.")
	fieldsim(t, e.bin, sim, "sync")
	b.syncNow()
	b.click(`#nav [data-go="followups"]`)
	b.visible("followups")
	b.waitFor(`document.getElementById("fu-list").textContent.includes("housing form")`)
	b.check("09-follow-ups")

	// A conflict: another worker sets the concern level while this phone,
	// offline, sets another. Shown side by side; the worker chooses.
	other := t.TempDir()
	fieldsim(t, e.bin, other, "enrol", "-server", e.base, "-code", code(t, e.base, e.workers[1]))
	fieldsim(t, e.bin, other, "sync")
	id := strings.TrimSpace(b.eval(`joinedup.encounters().then((l) => l.find((e) => e.values.area === "Conflict corner").id)`))
	b.offline(true)
	b.eval(fmt.Sprintf(`joinedup.update(%q, {concern_level: "low"}).then(() => "ok")`, id))
	fieldsim(t, e.bin, other, "set", "-id", id, "-field", "concern_level", "-value", `"high"`)
	fieldsim(t, e.bin, other, "sync")
	b.offline(false)
	b.click(`#nav [data-go="home"]`)
	b.syncNow()
	b.waitFor(`joinedup.list("encounter").then(() => true)`)
	b.eval(`refresh().then(() => "ok")`)
	b.visible("conflict-banner")
	b.click("#open-conflicts")
	b.visible("conflicts")
	b.waitFor(`document.querySelectorAll("#conflict-list .choice").length === 2`)
	b.check("10-conflicts")
	b.click("#conflict-list .choice:nth-child(2) button")
	b.waitFor(`document.querySelectorAll("#conflict-list .choice").length === 0`)

	// Sync status; offline; sign-out refused while a save is unsent.
	b.click(`#nav [data-go="sync"]`)
	b.visible("sync")
	b.check("11-sync")
	b.offline(true)
	b.waitFor(`document.getElementById("net").classList.contains("offline")`)
	b.click(`#nav [data-go="home"]`)
	b.click("#add")
	b.do(chromedp.SetValue(chromedp.ID("area"), "Unsent corner"))
	b.click("#save")
	b.waitFor(`document.getElementById("pending").textContent === "1"`)
	b.check("12-offline")
	b.click(`#nav [data-go="sync"]`)
	b.click("#signout")
	b.visible("signout-force")
	b.check("13-sign-out-refused")
	if st := b.eval(`joinedup.status().then((s) => String(s.enrolled) + " " + s.pending)`); st != "true 1" {
		t.Fatalf("a refused sign-out changed the phone: %s", st)
	}

	// Welsh.
	b.click(`#nav [data-go="home"]`)
	b.click("#lang")
	b.waitFor(`document.documentElement.lang === "cy" && document.querySelector('#nav [data-go="home"]').textContent === "Heno"`)
	b.check("14-tonight-cymraeg")
	b.click("#lang")

	// Forced sign-out: nothing left in the browser.
	b.click(`#nav [data-go="sync"]`)
	b.click("#signout")
	b.visible("signout-force")
	b.click("#signout-force")
	b.visible("enrol")
	if dbs := b.eval(`indexedDB.databases().then((d) => JSON.stringify(d.map((x) => x.name)))`); strings.Contains(dbs, `"joinedup"`) {
		t.Fatalf("after sign-out the browser still has its database: %s", dbs)
	}

	// Nothing personal in the URL or the history.
	if u := b.eval(`location.href`); u != e.base+"/app/" {
		t.Fatalf("the URL became %s", u)
	}
	if n := b.eval(`String(history.length)`); n != history {
		t.Fatalf("the history grew from %s to %s entries: the app must not add any", history, n)
	}
}
