package mobilesdk

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSavesAreDurableAndEncrypted(t *testing.T) {
	dir := t.TempDir()
	c := MustOpen(t, dir, nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	yp := mustS(t)(c.CreateYoungPerson(`{"known_as":"Kestrel","age_band":"14-15","wants":"wants to get back into college"}`))
	id := mustS(t)(c.CreateEncounter(`{"area":"Riverside","note":"Met by the skate park; talked about the hostel on Marsh Lane.","young_people":["` + yp + `"]}`))
	must(t, c.InsertText(id, "note", 0, "Evening. "))
	if got := status(t, c).PendingChangesets; got != 3 {
		t.Fatalf("pending = %d, want 3 (one per save)", got)
	}
	must(t, c.Close())

	for _, secret := range []string{"Marsh Lane", "skate park", "Kestrel", "back into college", "secret-credential"} {
		if bytes.Contains(dirBytes(t, dir), []byte(secret)) {
			t.Errorf("database files contain plaintext %q", secret)
		}
	}

	// A wrong key fails at open, not later.
	wrong := bytes.Repeat([]byte{9}, KeySize)
	if _, err := open(dir, wrong, "sim", options{}); ErrorCode(err) != EWRONGKEY {
		t.Fatalf("open with wrong key: %v (code %q), want wrong_key", err, ErrorCode(err))
	}
	if _, err := Open(dir, wrong[:16], "sim"); ErrorCode(err) != "invalid" {
		t.Fatalf("open with short key: %v, want invalid", err)
	}

	c2 := MustOpen(t, dir, nil)
	v := view(t, c2, id)
	if got, want := str(t, v, "note"), "Evening. Met by the skate park; talked about the hostel on Marsh Lane."; got != want {
		t.Fatalf("note after reopen = %q, want %q", got, want)
	}
	if got := status(t, c2).PendingChangesets; got != 3 {
		t.Fatalf("pending after reopen = %d, want 3", got)
	}
	// The counter survived: the next save continues it.
	must(t, c2.InsertText(id, "note", 0, "!"))
	css, err := outboxChangesets(c2)
	must(t, err)
	for i := 1; i < len(css); i++ {
		if css[i].Start != css[i-1].End()+1 {
			t.Fatalf("outbox counters not contiguous: %d after %d..%d", css[i].Start, css[i-1].Start, css[i-1].End())
		}
	}
	var mode, sync string
	must(t, sq(c2).db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	must(t, sq(c2).db.QueryRow(`PRAGMA synchronous`).Scan(&sync))
	if mode != "wal" || sync != "2" {
		t.Fatalf("journal_mode=%s synchronous=%s, want wal and 2 (FULL)", mode, sync)
	}
}

func TestTextEditsByRunePosition(t *testing.T) {
	c := MustOpen(t, t.TempDir(), nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	id := mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"Zoë 🙂 said hi"}`))
	must(t, c.InsertText(id, "note", 6, "quietly ")) // after "Zoë 🙂 "
	must(t, c.DeleteText(id, "note", 0, 4))          // "Zoë "
	if got := str(t, view(t, c, id), "note"); got != "🙂 quietly said hi" {
		t.Fatalf("note = %q", got)
	}
	if err := c.InsertText(id, "note", 99, "x"); ErrorCode(err) != "invalid" {
		t.Fatalf("insert past the end: %v, want invalid", err)
	}
	if err := c.InsertText("nope", "note", 0, "x"); ErrorCode(err) != "not_found" {
		t.Fatalf("insert into unknown record: %v, want not_found", err)
	}
	// A refused save leaves nothing behind.
	if got := status(t, c).PendingChangesets; got != 3 {
		t.Fatalf("pending = %d, want 3", got)
	}
}

func TestReferralLifecycle(t *testing.T) {
	c := MustOpen(t, t.TempDir(), nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	yp := mustS(t)(c.CreateYoungPerson(`{"known_as":"Wren"}`))
	ref := mustS(t)(c.DraftReferral(yp, `{"reason":"Sofa surfing since March"}`))
	if err := c.SubmitReferral(ref); ErrorCode(err) != "invalid" {
		t.Fatalf("submit without service, urgency, consent: %v, want invalid", err)
	}
	must(t, c.Update(ref, `{"service_id":"svc_housing","urgency":"soon"}`))
	must(t, c.RecordConsent(ref, "given", ""))
	must(t, c.SubmitReferral(ref))
	v := view(t, c, ref)
	if str(t, v, "status") != "submitted" || str(t, v, "consent") != "given" {
		t.Fatalf("referral = %+v", v.Values)
	}
	if err := c.SetReferralStatus(ref, "draft"); ErrorCode(err) != "invalid" {
		t.Fatalf("submitted -> draft: %v, want invalid", err)
	}
}

func TestQueries(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 3, 2, 18, 30, 0, 0, time.UTC)}
	c := MustOpen(t, t.TempDir(), clk)
	enrolLocal(t, c, 1, "w1", "team_a")
	yp := mustS(t)(c.CreateYoungPerson(`{"known_as":"Wren"}`))
	today := mustS(t)(c.CreateEncounter(`{"area":"Docks","young_people":["` + yp + `"]}`))
	mustS(t)(c.CreateEncounter(`{"area":"Docks","started_at":"2026-02-27T19:00:00Z"}`))
	mine := mustS(t)(c.CreateFollowUp(`{"young_person_id":"` + yp + `","due_at":"2026-03-03T10:00:00Z","kind":"check_in"}`))
	mustS(t)(c.CreateFollowUp(`{"assignee":"w2","due_at":"2026-03-03T10:00:00Z"}`))
	done := mustS(t)(c.CreateFollowUp(`{"due_at":"2026-03-01T10:00:00Z"}`))
	must(t, c.CompleteFollowUp(done))

	ids := func(js string, err error) []string {
		t.Helper()
		var vs []struct{ ID string }
		must(t, json.Unmarshal([]byte(mustS(t)(js, err)), &vs))
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	if got := ids(c.TodaysEncounters()); len(got) != 1 || got[0] != today {
		t.Errorf("today's encounters = %v, want [%s]", got, today)
	}
	if got := ids(c.MyFollowUps(0)); len(got) != 1 || got[0] != mine {
		t.Errorf("my follow-ups = %v, want [%s]", got, mine)
	}
	if got := ids(c.Chronology(yp)); strings.Join(got, ",") != strings.Join([]string{yp, today, mine}, ",") {
		t.Errorf("chronology = %v, want [%s %s %s]", got, yp, today, mine)
	}
}

func TestLogoutRefusesUnsyncedWork(t *testing.T) {
	dir := t.TempDir()
	c := MustOpen(t, dir, nil)
	enrolLocal(t, c, 1, "w1", "team_a")
	mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"unsent"}`))
	if _, err := c.Logout(false); ErrorCode(err) != EUNSYNCED {
		t.Fatalf("logout with unsent work: %v, want unsynced_work", err)
	}
	if got := status(t, c).PendingChangesets; got != 1 {
		t.Fatalf("after refused logout pending = %d, want 1", got)
	}
	rep := mustS(t)(c.Logout(true))
	if !strings.Contains(rep, `"verified":true`) || !strings.Contains(rep, `"unsynced_lost":1`) {
		t.Fatalf("forced logout report = %s", rep)
	}
	if b := dirBytes(t, dir); len(b) != 0 {
		t.Fatalf("state dir holds %d bytes after logout", len(b))
	}
	if _, err := c.CreateEncounter(`{}`); ErrorCode(err) != EWIPED {
		t.Fatalf("edit after logout: %v, want wiped", err)
	}
}

func TestBackoffGrowsWithJitterAndCaps(t *testing.T) {
	for _, tc := range []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{1, 0, 1 * time.Second}, {1, 0.999999, 2 * time.Second}, {2, 0, 2 * time.Second},
		{3, 0.5, 6 * time.Second}, {20, 0, backoffMax / 2}, {20, 0.999999, backoffMax},
	} {
		got := backoff(tc.failures, tc.r)
		if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.failures, tc.r, got, tc.want)
		}
	}
}
