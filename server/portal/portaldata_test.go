package portal

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// serverEdit makes records as the admin (the test's setup, not under test).
func serverEdit(t *testing.T, env *testEnv, by string, fn func(tx *syncengine.Txn) error) {
	t.Helper()
	if _, err := env.db.ServerEdit(context.Background(), by, fn); err != nil {
		t.Fatal(err)
	}
}

func setAll(t *testing.T, tx *syncengine.Txn, id syncengine.RecordID, kv map[string]any) {
	t.Helper()
	for k, v := range kv {
		var err error
		switch x := v.(type) {
		case text:
			err = tx.InsertText(id, k, 0, string(x))
		default:
			err = tx.Set(id, k, v)
		}
		if err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
}

// text marks a value for a text field.
type text string

func create(t *testing.T, tx *syncengine.Txn, typ string, kv map[string]any) syncengine.RecordID {
	t.Helper()
	id, err := tx.Create(typ)
	if err != nil {
		t.Fatal(err)
	}
	setAll(t, tx, id, kv)
	return id
}

func auditedPage(t *testing.T, env *testEnv, person, page string) domain.AuditEntry {
	t.Helper()
	entries, err := env.db.Audit(context.Background(), domain.AuditFilter{PersonID: person, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Detail["page"] == page {
			return e
		}
	}
	t.Fatalf("no audit entry for page %q", page)
	return domain.AuditEntry{}
}

// The case summary is a printable chronology: narratives, agreed actions,
// referrals and outcomes, in UK local time across the clock change, in plain
// words, without action forms; audited as a read; other teams' supervisors
// learn nothing.
func TestCaseSummaryPlainLocalPrintable(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	summer := time.Date(2025, 7, 1, 18, 30, 0, 0, time.UTC) // 19:30 BST
	winter := time.Date(2025, 10, 27, 9, 5, 0, 0, time.UTC) // 09:05 GMT, after the clocks went back
	var yp, enc, ref syncengine.RecordID
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		yp = create(t, tx, syncengine.TypeYoungPerson, map[string]any{"team_id": w.team, "known_as": "Marlowe", "area": "Quayside", "wants": text("A place at college")})
		enc = create(t, tx, syncengine.TypeEncounter, map[string]any{"team_id": w.team, "area": "Quayside", "started_at": summer,
			"concern_level": "high", "note": text("Said the flat has no heating"), "actions": text("Worker to phone housing on Monday")})
		if err := tx.Add(enc, "young_people", string(yp)); err != nil {
			return err
		}
		if err := tx.Add(enc, "topics", "mental_health"); err != nil {
			return err
		}
		ref = create(t, tx, syncengine.TypeReferral, map[string]any{"team_id": w.team, "young_person_id": string(yp), "service_id": w.service,
			"status": "draft", "urgency": "urgent", "consent": "given", "reason": text("No heating since September")})
		create(t, tx, syncengine.TypeFollowUp, map[string]any{"team_id": w.team, "young_person_id": string(yp), "assignee": w.worker,
			"due_at": winter, "status": "open", "note": text("Check the heating is fixed")})
		return nil
	})
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		setAll(t, tx, ref, map[string]any{"status": "submitted", "submitted_at": summer.Add(time.Hour), "outcome": "Engineer booked"})
		return nil
	})
	sup := env.signIn("supervisor", 1)
	st, body := sup.get("/portal/young-people/" + string(yp) + "/summary")
	if st != 200 {
		t.Fatalf("summary: %d %s", st, trunc(body))
	}
	main := body[strings.Index(body, "<main"):]
	for _, want := range []string{"Said the flat has no heating", "Worker to phone housing on Monday", "No heating since September",
		"Engineer booked", "Check the heating is fixed", "A place at college", "mental health", "Concern: high", "urgent",
		"Tue 1 Jul 2025, 19:30", "Mon 27 Oct 2025, 09:05", "Follow-up"} {
		if !strings.Contains(main, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	shown := regexp.MustCompile(`datetime="[^"]*"`).ReplaceAllString(main, "")
	for _, bad := range []string{"mental_health", "Follow-up ()", "<form", "18:30", "submitted"} {
		if strings.Contains(shown, bad) {
			t.Errorf("the summary shows %q", bad)
		}
	}
	if e := auditedPage(t, env, w.supervisor, "case-summary"); e.RecordID != string(yp) {
		t.Errorf("audited the summary of %q, want %q", e.RecordID, yp)
	}
	// The chronology page links to it and no longer says "Follow-up ()".
	if _, chron := sup.get("/portal/young-people/" + string(yp)); !strings.Contains(chron, "/summary") || strings.Contains(chron, "Follow-up ()") || strings.Contains(chron, "mental_health") {
		t.Error("the chronology lacks the summary link, or shows raw values")
	}
	other := env.signIn("supervisor", 2)
	if st, _ := other.get("/portal/young-people/" + string(yp) + "/summary"); st != 404 {
		t.Errorf("another team's supervisor: %d, want 404", st)
	}
}

// Two profiles of the same young person are flagged on the list, on the
// profile and in the duplicates list; a merge needs a reason and a
// confirmation, moves every record, keeps both sides' details and marks the
// other profile merged; another team's supervisor cannot merge.
func TestDuplicatesFlaggedAndMerged(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	var keep, lose, enc, ref, fu syncengine.RecordID
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		keep = create(t, tx, syncengine.TypeYoungPerson, map[string]any{"team_id": w.team, "known_as": "Jaydon", "age_band": "14-15",
			"area": "Brook Park", "wants": text("Football on Fridays")})
		lose = create(t, tx, syncengine.TypeYoungPerson, map[string]any{"team_id": w.team, "known_as": "Jayden", "age_band": "14-15",
			"area": "brook park", "gender": "male", "wants": text("Somewhere warm to go")})
		enc = create(t, tx, syncengine.TypeEncounter, map[string]any{"team_id": w.team, "area": "Brook Park", "started_at": testNow.Add(-time.Hour)})
		if err := tx.Add(enc, "young_people", string(lose)); err != nil {
			return err
		}
		ref = create(t, tx, syncengine.TypeReferral, map[string]any{"team_id": w.team, "young_person_id": string(lose), "status": "draft"})
		fu = create(t, tx, syncengine.TypeFollowUp, map[string]any{"team_id": w.team, "young_person_id": string(lose), "assignee": w.worker,
			"due_at": testNow.Add(24 * time.Hour), "status": "open"})
		return nil
	})
	sup := env.signIn("supervisor", 1)
	if _, body := sup.get("/portal/young-people?q=jay&duplicates=1"); !strings.Contains(body, string(keep)) || !strings.Contains(body, string(lose)) || !strings.Contains(body, "possible duplicate") {
		t.Fatalf("the list does not flag the pair: %s", trunc(body))
	}
	if _, body := sup.get("/portal/young-people/duplicates"); !strings.Contains(body, "merge?a="+string(keep)+"&amp;b="+string(lose)) &&
		!strings.Contains(body, "merge?a="+string(lose)+"&amp;b="+string(keep)) {
		t.Fatalf("the duplicates list lacks the pair")
	}
	if _, body := sup.get("/portal/young-people/" + string(keep)); !strings.Contains(body, "possible-duplicates") || !strings.Contains(body, "young-people/merge?a="+string(keep)+"&amp;b="+string(lose)) {
		t.Fatal("the profile page does not offer the merge")
	}
	if _, body := sup.get("/portal/young-people/" + string(keep)); !strings.Contains(body, `id="merge-choose"`) || !strings.Contains(body, `<option value="`+string(lose)+`"`) {
		t.Fatal("the profile page does not offer a merge with any profile of the team")
	}
	if st, body := sup.get("/portal/young-people/merge?a=" + string(keep) + "&b=" + string(lose)); st != 200 || !strings.Contains(body, "merge-confirm") {
		t.Fatalf("merge form: %d %s", st, trunc(body))
	}
	form := func(kv ...string) url.Values {
		v := url.Values{"a": {string(keep)}, "b": {string(lose)}, "keep": {string(keep)}, "reason": {"Same young person, met by two workers"}, "confirm": {"yes"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	other := env.signIn("supervisor", 2)
	refused := []struct {
		name string
		c    *client
		form url.Values
		want int
	}{
		{"no confirmation", sup, form("confirm", ""), 422},
		{"no reason", sup, form("reason", " "), 422},
		{"keep neither", sup, form("keep", "y_not_one_of_them"), 422},
		{"the same profile twice", sup, form("b", string(keep)), 422},
		{"another team's supervisor", other, form(), 404},
		{"a record that is not a young person", sup, form("b", string(enc)), 404},
	}
	for _, tc := range refused {
		if st, body := tc.c.post("/portal/young-people/merge", tc.form); st != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, st, tc.want, trunc(body))
		}
	}
	if r, _ := env.db.RecordState(context.Background(), string(lose)); domain.MergedInto(r) != "" {
		t.Fatal("a refused merge merged")
	}
	if st, body := sup.post("/portal/young-people/merge", form()); st != 303 {
		t.Fatalf("merge: %d %s", st, trunc(body))
	}
	rec := func(id syncengine.RecordID) *syncengine.Record {
		r, err := env.db.RecordState(context.Background(), string(id))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := rec(lose); domain.MergedInto(got) != string(keep) || got.Deleted() || str(got, "wants") != "Somewhere warm to go" {
		t.Errorf("the merged profile: merged_into %q, deleted %v, wants %q", domain.MergedInto(got), got.Deleted(), str(got, "wants"))
	}
	k := rec(keep)
	if str(k, "gender") != "male" || str(k, "known_as") != "Jaydon" || !strings.Contains(str(k, "wants"), "Football on Fridays") ||
		!strings.Contains(str(k, "wants"), "Somewhere warm to go") || !strings.Contains(str(k, "wants"), "known as: Jayden") {
		t.Errorf("the kept profile lost something: %v", k.Values())
	}
	if ys := rec(enc).Set("young_people"); len(ys) != 1 || ys[0] != string(keep) {
		t.Errorf("the encounter names %v, want only the kept profile", ys)
	}
	for _, id := range []syncengine.RecordID{ref, fu} {
		if got := str(rec(id), "young_person_id"); got != string(keep) {
			t.Errorf("%s is about %q, want the kept profile", id, got)
		}
	}
	if _, body := sup.get("/portal/young-people?q=jay"); strings.Contains(body, string(lose)) {
		t.Error("the merged profile is still listed")
	}
	if _, body := sup.get("/portal/young-people/" + string(lose)); !strings.Contains(body, "merged-notice") || !strings.Contains(body, "/young-people/"+string(keep)) {
		t.Error("the merged profile's page does not point to the kept one")
	}
	if st, _ := sup.post("/portal/young-people/merge", form()); st != 409 {
		t.Errorf("merging again: %d, want 409", st)
	}
}

// A supervisor's saved filters are theirs, open the list filtered, and can
// be deleted; another supervisor neither sees nor deletes them.
func TestSavedFiltersOnLists(t *testing.T) {
	env := newTestEnv(t)
	sup, other := env.signIn("supervisor", 1), env.signIn("supervisor", 2)
	for _, list := range []string{"encounters", "young-people", "referrals", "audit"} {
		if _, body := sup.get("/portal/" + list + "?page=1"); !strings.Contains(body, `id="saved-filters"`) {
			t.Errorf("%s has no saved-filters panel", list)
		}
	}
	st, _ := sup.post("/portal/saved-filters", url.Values{"list": {"encounters"}, "name": {"Urgent, to review"}, "query": {"concern=urgent&status=awaiting_review&page=4"}})
	if st != 303 {
		t.Fatalf("save: %d", st)
	}
	_, body := sup.get("/portal/encounters")
	if !strings.Contains(body, "Urgent, to review") || !strings.Contains(body, "/portal/encounters?concern=urgent&amp;status=awaiting_review") {
		t.Fatalf("the saved filter is not offered: %s", trunc(body))
	}
	if _, body := other.get("/portal/encounters"); strings.Contains(body, "Urgent, to review") {
		t.Error("another supervisor sees the saved filter")
	}
	fs, err := env.db.SavedFilters(context.Background(), findWorld(t, env).supervisor, "encounters")
	if err != nil || len(fs) != 1 {
		t.Fatalf("stored filters: %v %v", fs, err)
	}
	del := "/portal/saved-filters/" + strconv.FormatInt(fs[0].ID, 10) + "/delete"
	if st, _ := other.post(del, url.Values{"list": {"encounters"}}); st != 404 {
		t.Errorf("another supervisor deletes it: %d, want 404", st)
	}
	if st, _ := sup.post("/portal/saved-filters", url.Values{"list": {"devices"}, "name": {"x"}, "query": {"a=b"}}); st != 422 {
		t.Errorf("a filter of an unknown list: %d, want 422", st)
	}
	if st, _ := sup.post(del, url.Values{"list": {"encounters"}}); st != 303 {
		t.Errorf("delete: %d", st)
	}
	if _, body := sup.get("/portal/encounters"); strings.Contains(body, "Urgent, to review") {
		t.Error("the deleted filter is still offered")
	}
}

// Search goes through the store's index: names are found, an erased young
// person never is (nor the words redacted from an encounter), and a
// practitioner has no search at all.
func TestSearchIndexNamesErasedPractitioner(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	var yp, enc syncengine.RecordID
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		yp = create(t, tx, syncengine.TypeYoungPerson, map[string]any{"team_id": w.team, "known_as": "Quillon", "area": "Docks"})
		enc = create(t, tx, syncengine.TypeEncounter, map[string]any{"team_id": w.team, "area": "Docks", "started_at": testNow.Add(-time.Hour),
			"note": text("Quillon and a friend by the docks")})
		return tx.Add(enc, "young_people", string(yp))
	})
	sup := env.signIn("supervisor", 1)
	if _, body := sup.get("/portal/search?q=quill"); !strings.Contains(body, "/young-people/"+string(yp)) || !strings.Contains(body, "/encounters/"+string(enc)) {
		t.Fatalf("a name prefix finds neither the profile nor the encounter: %s", trunc(body))
	}
	if _, err := env.db.Erase(context.Background(), domain.ErasureRequest{By: w.supervisor, YoungPersonID: string(yp), Reason: "request 3",
		Erase: []string{string(yp)}, Redact: []domain.Redaction{{EncounterID: string(enc), Unlink: string(yp), Words: []string{"Quillon"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, body := sup.get("/portal/search?q=quillon"); strings.Contains(body, string(yp)) || strings.Contains(body, "/encounters/"+string(enc)) {
		t.Error("the erased young person is still found")
	}
	if _, body := sup.get("/portal/search?q=docks+friend"); !strings.Contains(body, "/encounters/"+string(enc)) {
		t.Error("the redacted encounter's other words are not found")
	}
	pr := env.signIn("practitioner", 1)
	if st, _ := pr.get("/portal/search?q=docks"); st != 403 {
		t.Errorf("a practitioner searches: %d, want 403", st)
	}
}

// The store hands the same decoded records to concurrent requests
// (sqlite's recordcache.go, the conflict memo): pages read them at once
// without a race (go test -race) and show the same thing.
func TestListsShareDecodedRecordsConcurrently(t *testing.T) {
	env := newTestEnv(t)
	sup, adm := env.signIn("supervisor", 1), env.signIn("admin", 1)
	pages := []string{"/portal/dashboard", "/portal/encounters?sort=concern", "/portal/young-people", "/portal/referrals", "/portal/follow-ups?when=week"}
	first := map[string]int{}
	for _, pg := range pages {
		_, body := adm.get(pg)
		first[pg] = len(body)
	}
	errs := make(chan string, 64)
	done := make(chan bool)
	// A client is one browser: each goroutine has its own session.
	for _, c := range []*client{sup, adm, env.signIn("supervisor", 1), env.signIn("admin", 1)} {
		go func(c *client) {
			for _, pg := range pages {
				if st, _ := c.get(pg); st != 200 {
					errs <- pg
				}
			}
			done <- true
		}(c)
	}
	for range 4 {
		<-done
	}
	close(errs)
	for pg := range errs {
		t.Errorf("%s failed under concurrent requests", pg)
	}
	for _, pg := range pages {
		if _, body := adm.get(pg); len(body) != first[pg] {
			t.Errorf("%s changed between identical requests (%d, %d bytes)", pg, first[pg], len(body))
		}
	}
}

// Merging A into B and then B into C leaves A pointing at B: A's page leads
// to C, the profile that is kept, and a record a phone offline through both
// merges still writes about A shows in C's chronology.
func TestMergeChainFollowsToTheKeptProfile(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	var a, b, cc syncengine.RecordID
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		for _, x := range []struct {
			id   *syncengine.RecordID
			name string
		}{{&a, "Rhys"}, {&b, "Rees"}, {&cc, "Reece"}} {
			*x.id = create(t, tx, syncengine.TypeYoungPerson, map[string]any{"team_id": w.team, "known_as": x.name, "age_band": "14-15", "area": "Brook Park"})
		}
		return nil
	})
	sup := env.signIn("supervisor", 1)
	merge := func(keep, lose syncengine.RecordID) {
		t.Helper()
		v := url.Values{"a": {string(keep)}, "b": {string(lose)}, "keep": {string(keep)}, "reason": {"Same young person, met by two workers"}, "confirm": {"yes"}}
		if st, body := sup.post("/portal/young-people/merge", v); st != 303 {
			t.Fatalf("merge %s into %s: %d %s", lose, keep, st, trunc(body))
		}
	}
	merge(b, a)
	merge(cc, b)
	var late syncengine.RecordID
	serverEdit(t, env, w.admin, func(tx *syncengine.Txn) error {
		late = create(t, tx, syncengine.TypeEncounter, map[string]any{"team_id": w.team, "area": "Brook Park", "started_at": testNow.Add(-time.Hour)})
		return tx.Add(late, "young_people", string(a))
	})
	tests := []struct {
		name, path, want, not string
	}{
		{"A's page leads to the kept profile", "/portal/young-people/" + string(a), "/young-people/" + string(cc) + `"`, "/young-people/" + string(b) + `"`},
		{"the kept profile's chronology has the late record about A", "/portal/young-people/" + string(cc), string(late), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := sup.get(tc.path)
			if st != 200 || !strings.Contains(body, tc.want) || (tc.not != "" && strings.Contains(body, tc.not)) {
				t.Fatalf("status %d, want 200 containing %q and not %q\n%s", st, tc.want, tc.not, trunc(body))
			}
		})
	}
}
