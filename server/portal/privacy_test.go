package portal

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// enrolDevice enrols a phone for person, with a code issued by by.
func (e *testEnv) enrolDevice(person, by string) (domain.Enrolment, domain.Device) {
	e.t.Helper()
	ctx := context.Background()
	code, _, err := e.db.IssueEnrolmentCode(ctx, person, by)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.db.Enrol(ctx, code, "sim")
	if err != nil {
		e.t.Fatal(err)
	}
	dev, err := e.db.Device(ctx, en.DeviceID)
	if err != nil {
		e.t.Fatal(err)
	}
	return en, dev
}

// syncDevice enrols a phone for person and pulls everything in its scope,
// as the API's sync does; it returns the device id.
func (e *testEnv) syncDevice(person, by string) string {
	e.t.Helper()
	ctx := context.Background()
	_, dev := e.enrolDevice(person, by)
	p, err := e.db.Person(ctx, person)
	if err != nil {
		e.t.Fatal(err)
	}
	cursor := ""
	for i := 0; i < 1000; i++ {
		res, err := e.db.Sync(ctx, domain.SyncRequest{Device: dev, Person: p, Cursor: cursor, PageBytes: 64 << 10})
		if err != nil {
			e.t.Fatal(err)
		}
		cursor = res.Cursor
		if !res.More {
			return dev.ID
		}
	}
	e.t.Fatal("sync never finished")
	return ""
}

// teamYoungPerson returns a young person of a team with at least one encounter.
func (e *testEnv) teamYoungPerson(team string) (yp *syncengine.Record, encs []*syncengine.Record) {
	e.t.Helper()
	ctx := context.Background()
	yps, err := e.db.Records(ctx, domain.RecordFilter{Type: syncengine.TypeYoungPerson, TeamIDs: []string{team}})
	if err != nil {
		e.t.Fatal(err)
	}
	all, err := e.db.Records(ctx, domain.RecordFilter{Type: syncengine.TypeEncounter, TeamIDs: []string{team}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, y := range yps {
		if y.Bool("safeguarding_hold") || y.Erased != nil {
			continue
		}
		encs = nil
		for _, r := range all {
			if live(r) && slices.Contains(r.Set("young_people"), string(y.ID)) {
				encs = append(encs, r)
			}
		}
		if len(encs) >= 2 {
			return y, encs
		}
	}
	e.t.Fatalf("no young person in %s with two encounters", team)
	return nil, nil
}

func teamWorkers(team string) []fixtures.Person {
	var out []fixtures.Person
	for _, p := range demo.Org.People {
		if p.TeamID == team && p.Role == domain.RoleWorker {
			out = append(out, p)
		}
	}
	return out
}

var (
	dataPersonRe = regexp.MustCompile(`data-person="([^"]+)"`)
	dataDeviceRe = regexp.MustCompile(`data-device="([^"]+)"`)
)

func matches(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

func TestAccessHistoryListsExactlyWhoReceivedTheRecords(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	me := personByEmail(t, login(t, "supervisor", 1).Email)
	yp, _ := env.teamYoungPerson(me.TeamID)
	// Two workers of the team sync their phones: they receive the young
	// person's records. A worker of another team syncs too: they do not.
	ws := teamWorkers(me.TeamID)
	if len(ws) < 2 {
		t.Fatalf("team %s has %d workers", me.TeamID, len(ws))
	}
	d1 := env.syncDevice(ws[0].ID, me.ID)
	d2 := env.syncDevice(ws[1].ID, me.ID)
	var otherTeam fixtures.Person
	for _, p := range demo.Org.People {
		if p.Role == domain.RoleWorker && p.TeamID != me.TeamID {
			otherTeam = p
			break
		}
	}
	dOther := env.syncDevice(otherTeam.ID, me.ID)
	// A worker who never syncs a phone does not appear.
	// The supervisor opens the chronology.
	if status, body := sup.get("/portal/young-people/" + string(yp.ID)); status != 200 {
		t.Fatalf("chronology: %d %s", status, trunc(body))
	}
	status, body := sup.get("/portal/young-people/" + string(yp.ID) + "/access")
	if status != 200 {
		t.Fatalf("access history: %d %s", status, trunc(body))
	}
	wantPeople := []string{ws[0].ID, ws[1].ID, me.ID}
	slices.Sort(wantPeople)
	wantDevices := []string{d1, d2}
	slices.Sort(wantDevices)
	if got := matches(dataPersonRe, body); !slices.Equal(got, wantPeople) {
		t.Errorf("people listed %v, want exactly %v", got, wantPeople)
	}
	if got := matches(dataDeviceRe, body); !slices.Equal(got, wantDevices) {
		t.Errorf("devices listed %v, want exactly %v (not %s)", got, wantDevices, dOther)
	}
	// A supervisor of another team may not see this page (404: not revealed).
	for n := 2; n <= 5; n++ {
		l := login(t, "supervisor", n)
		if personByEmail(t, l.Email).TeamID != me.TeamID {
			other := env.signIn("supervisor", n)
			if status, _ := other.get("/portal/young-people/" + string(yp.ID) + "/access"); status != 404 {
				t.Errorf("another team's supervisor: status %d, want 404", status)
			}
			break
		}
	}
	// The subject-access export carries the same history and the sharing decisions.
	status, body = sup.get("/portal/young-people/" + string(yp.ID) + "/export?format=json")
	if status != 200 {
		t.Fatalf("export: %d", status)
	}
	var exp struct {
		Access []struct {
			PersonID string `json:"person_id"`
			DeviceID string `json:"device_id"`
		} `json:"access_history"`
		Sharing []domain.SharingDecision `json:"sharing_decisions"`
	}
	if err := json.Unmarshal([]byte(body), &exp); err != nil {
		t.Fatal(err)
	}
	devs := map[string]bool{}
	for _, a := range exp.Access {
		if a.DeviceID != "" {
			devs[a.DeviceID] = true
		}
	}
	if !devs[d1] || !devs[d2] || devs[dOther] || exp.Sharing == nil {
		t.Errorf("export access history %+v, sharing %v", exp.Access, exp.Sharing)
	}
	if status, body := sup.get("/portal/young-people/" + string(yp.ID) + "/export?format=csv"); status != 200 || !strings.Contains(body, "\naccess,") {
		t.Errorf("CSV export lacks the access history: %d %s", status, trunc(body))
	}
}

func TestErasePageRedactsTheChosenEncounters(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	me := personByEmail(t, login(t, "supervisor", 1).Email)
	yp, encs := env.teamYoungPerson(me.TeamID)
	name := str(yp, "known_as")
	// Both encounters name the young person in their narrative.
	if _, err := env.db.ServerEdit(context.Background(), me.ID, func(tx *syncengine.Txn) error {
		for _, e := range encs[:2] {
			if err := tx.InsertText(e.ID, "note", 0, "Spoke with "+name+" at the bus station. "); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	status, body := sup.get("/portal/young-people/" + string(yp.ID) + "/erase")
	if status != 200 || !strings.Contains(body, "Spoke with [redacted] at the bus station.") || !strings.Contains(body, "Spoke with "+name) {
		t.Fatalf("erase page should show each encounter before and after: %d %s", status, trunc(body))
	}
	// Only the first is chosen; a forged id (another team's record) is ignored.
	form := url.Values{"reason": {"subject erasure request 7"}, "confirm": {string(yp.ID)}, "words": {name},
		"redact": {string(encs[0].ID), "not-an-encounter-in-scope"}}
	if status, body := sup.post("/portal/young-people/"+string(yp.ID)+"/erase", form); status != 303 {
		t.Fatalf("erase: %d %s", status, trunc(body))
	}
	ctx := context.Background()
	get := func(id syncengine.RecordID) *syncengine.Record {
		r, err := env.db.RecordState(ctx, string(id))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get(yp.ID); r.Erased == nil {
		t.Fatal("young person not erased")
	}
	chosen, kept := get(encs[0].ID), get(encs[1].ID)
	if strings.Contains(strings.ToLower(str(chosen, "note")), strings.ToLower(name)) || slices.Contains(chosen.Set("young_people"), string(yp.ID)) {
		t.Errorf("chosen encounter still names them: %q %v", str(chosen, "note"), chosen.Set("young_people"))
	}
	if !strings.Contains(str(chosen, "note"), "Spoke with [redacted] at the bus station.") {
		t.Errorf("chosen encounter note = %q", str(chosen, "note"))
	}
	if !strings.Contains(str(kept, "note"), name) || !slices.Contains(kept.Set("young_people"), string(yp.ID)) {
		t.Errorf("the encounter not chosen was changed: %q", str(kept, "note"))
	}
	// The audit shows the erasure, by this supervisor, with what it did.
	got, err := env.db.Audit(ctx, domain.AuditFilter{Action: domain.ActionErase, RecordID: string(yp.ID)})
	if err != nil || len(got) == 0 || got[0].PersonID != me.ID {
		t.Fatalf("erasure audit: %+v %v", got, err)
	}
}

func TestRetentionPageIsForAdmins(t *testing.T) {
	env := newTestEnv(t)
	admin := env.signIn("admin", 1)
	status, body := admin.get("/portal/retention")
	if status != 200 || !strings.Contains(body, `name="keep_encounter" value="1095"`) || !strings.Contains(body, "The next run will remove") {
		t.Fatalf("retention page: %d %s", status, trunc(body))
	}
	if status, body := admin.post("/portal/retention", url.Values{"keep_encounter": {"400"}}); status != 303 {
		t.Fatalf("save schedule: %d %s", status, trunc(body))
	}
	if status, body := admin.post("/portal/retention", url.Values{"keep_referral": {"3"}}); status != 422 {
		t.Fatalf("3 days: %d %s", status, trunc(body))
	}
	rules, err := env.db.RetentionRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if want := map[string]int{"encounter": 400, "referral": 2190, "follow_up": 1095}[r.Type]; r.KeepDays != want {
			t.Errorf("rule %s = %d days, want %d", r.Type, r.KeepDays, want)
		}
	}
	sup := env.signIn("supervisor", 1)
	if status, _ := sup.get("/portal/retention"); status != 403 && status != 404 {
		t.Errorf("a supervisor on the retention page: %d", status)
	}
}
