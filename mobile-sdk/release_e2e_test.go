package mobilesdk

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/syncengine"
)

// A refusal a real organisation hits and a supervisor can then release: a
// worker adds to a follow-up offline while its young person is transferred
// to another team by mistake; the phone's save is refused (the follow-up is
// filed under the other team now). The young person is transferred back,
// and the supervisor reviews the save through the admin API. Released, the
// phone shows it applied, once, and it is in the note on the server and on
// a teammate's phone, never twice, also when the author or the teammate
// saved to the note meanwhile; discarded, it stays shown as refused and is
// in no copy. A release while the young person is away re-runs the policy
// and is refused; once they are back, the other team's supervisor may
// neither release nor discard it, nor list or open it (not found); each
// leaves the item open.
func TestRefusedSaveReviewedAfterTransferBack(t *testing.T) {
	s := startServer(t)
	home, away := s.demo.Org.Teams[1].ID, s.demo.Org.Teams[2].ID
	supHome, supAway := s.person(t, 1, "supervisor", 0), s.person(t, 2, "supervisor", 0)
	const (
		first = "Check in at the youth club."
		added = " Wants help with a tenancy."
	)
	for _, tc := range []struct {
		name       string
		resolution string
		// edit, if set, is a save to the note by the author's phone (a)
		// or the teammate's (b) after the young person is back, before
		// the review; kept is what it adds to the note.
		edit func(t *testing.T, a, b *Client, fu string)
		kept string
	}{
		{name: "released", resolution: "release"},
		{name: "released after the author saved past it", resolution: "release", kept: "Later: ",
			edit: func(t *testing.T, a, b *Client, fu string) {
				must(t, a.InsertText(fu, "note", 0, "Later: "))
				syncOK(t, a)
			}},
		{name: "released after a teammate's save", resolution: "release", kept: " Seen Tuesday.",
			edit: func(t *testing.T, a, b *Client, fu string) {
				must(t, b.InsertText(fu, "note", int64(len(first)), " Seen Tuesday."))
				syncOK(t, b)
			}},
		{name: "discarded", resolution: "discard"},
		{name: "discarded after the author saved past it", resolution: "discard", kept: "Later: ",
			edit: func(t *testing.T, a, b *Client, fu string) {
				must(t, a.InsertText(fu, "note", 0, "Later: "))
				syncOK(t, a)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.enrolPhone(t, supHome, s.person(t, 1, "worker", 1))
			b := s.enrolPhone(t, supHome, s.person(t, 1, "worker", 2))
			device, err := a.st.Meta("device_id")
			must(t, err)
			yp := mustS(t)(a.CreateYoungPerson(`{"known_as":"Release test","age_band":"14-15"}`))
			fu := mustS(t)(a.CreateFollowUp(`{"young_person_id":"` + yp + `","due_at":"2026-12-07T17:00:00Z","kind":"check_in","note":"` + first + `"}`))
			syncOK(t, a)
			syncOK(t, b)
			if str(t, view(t, b, fu), "note") != first {
				t.Fatalf("the teammate's phone does not hold the follow-up: %+v", view(t, b, fu))
			}

			// Offline, the worker adds to the note; meanwhile the young
			// person is transferred away.
			must(t, a.InsertText(fu, "note", int64(len(first)), added))
			s.transfer(t, supHome, supAway, yp, away)
			sum := mustS(t)(a.SyncNow())
			if !strings.Contains(sum, `"quarantined":1`) {
				t.Fatalf("the save to a follow-up filed under another team was not refused: %s", sum)
			}
			if st := status(t, a); len(st.Quarantined) != 1 {
				t.Fatalf("the refused save is not shown: %+v", st)
			}
			items := s.quarantine(t, supHome, device)
			if len(items) != 1 {
				t.Fatalf("the server's open quarantine for the phone: %+v", items)
			}
			review := fmt.Sprintf("/v1/admin/quarantine/%d/review", items[0].ID)
			refused := func(sup fixtures.Person, when string, want int, resolutions ...string) {
				t.Helper()
				for _, res := range resolutions {
					if code, body := s.adminTry(t, sup, review, map[string]string{"resolution": res}); code != want {
						t.Fatalf("%s: %s by the supervisor of %s: %d %s, want %d", when, res, sup.TeamID, code, body, want)
					}
				}
				if got := s.quarantine(t, supHome, device); len(got) != 1 {
					t.Fatalf("%s: a refused review closed the item: %+v", when, got)
				}
			}
			// The policy is re-run for the worker, who may not write there.
			refused(supHome, "while the young person is away", http.StatusForbidden, "release")
			refused(supAway, "while the young person is away", http.StatusForbidden, "release")

			// Back home, the save is still refused until reviewed, and
			// only the home team's supervisor may review it: the team
			// the young person left no longer decides on their records.
			s.transfer(t, supAway, supHome, yp, home)
			syncOK(t, a)
			syncOK(t, b)
			if st := status(t, a); len(st.Quarantined) != 1 {
				t.Fatalf("the refused save is no longer shown, though nobody reviewed it: %+v", st)
			}
			if got := str(t, view(t, a, fu), "note"); got != first {
				t.Fatalf("the phone's note before the review: %q", got)
			}
			// To that team it is as if it did not exist: not listed, not
			// found by its id.
			refused(supAway, "after the transfer back", http.StatusNotFound, "release", "discard")
			if got := s.quarantine(t, supAway, device); len(got) != 0 {
				t.Fatalf("after the transfer back, the other team's supervisor lists the item: %+v", got)
			}
			detail := fmt.Sprintf("/v1/admin/quarantine/%d", items[0].ID)
			if code, body := s.adminGet(t, supAway, detail); code != http.StatusNotFound || strings.Contains(body, "tenancy") || !strings.Contains(body, `"code":"not_found"`) {
				t.Fatalf("after the transfer back, the other team's supervisor opens the item: %d %s", code, body)
			}
			if code, body := s.adminGet(t, supHome, detail); code != http.StatusOK || !strings.Contains(body, "tenancy") {
				t.Fatalf("the home supervisor's item: %d %s", code, body)
			}
			if tc.edit != nil {
				tc.edit(t, a, b, fu)
			}

			s.admin(t, supHome, review, map[string]string{"resolution": tc.resolution})
			if got := s.quarantine(t, supHome, device); len(got) != 0 {
				t.Fatalf("the reviewed item is still open: %+v", got)
			}
			wantRefused, wantAdded := 0, 1
			if tc.resolution == "discard" {
				wantRefused, wantAdded = 1, 0
			}
			for round := 0; round < 2; round++ { // a second sync changes nothing
				syncOK(t, a)
				syncOK(t, b)
				if st := status(t, a); len(st.Quarantined) != wantRefused || st.PendingChangesets != 0 {
					t.Fatalf("sync %d after the review: the phone shows %d refused (want %d), %d pending", round, len(st.Quarantined), wantRefused, st.PendingChangesets)
				}
				server := s.serverRecords(t, home)
				rec, err := syncengine.DecodeRecord(server[fu])
				must(t, err)
				notes := map[string]string{"server": rec.String("note"), "author's phone": str(t, view(t, a, fu), "note"),
					"teammate's phone": str(t, view(t, b, fu), "note")}
				for where, note := range notes {
					if strings.Count(note, added) != wantAdded || strings.Count(note, first) != 1 || (tc.kept != "" && strings.Count(note, tc.kept) != 1) ||
						len(note) != len(first)+wantAdded*len(added)+len(tc.kept) {
						t.Fatalf("sync %d after the review: the note on the %s is %q (want %q once, the refused %q %d times, and %q)",
							round, where, note, first, added, wantAdded, tc.kept)
					}
					if note != notes["server"] {
						t.Fatalf("sync %d after the review: the %s's note %q differs from the server's %q", round, where, note, notes["server"])
					}
				}
				sameRecords(t, "the follow-up on the author's phone vs the server", map[string][]byte{fu: phoneRecords(t, a)[fu]}, map[string][]byte{fu: server[fu]})
				sameRecords(t, "the follow-up on the teammate's phone vs the server", map[string][]byte{fu: phoneRecords(t, b)[fu]}, map[string][]byte{fu: server[fu]})
			}
			// Reviewed once: a second review is refused and changes nothing.
			if code, body := s.adminTry(t, supHome, review, map[string]string{"resolution": "release"}); code != http.StatusConflict {
				t.Fatalf("a second review: %d %s, want 409", code, body)
			}
		})
	}
}

// transfer moves a young person to team to: from's supervisor asks, to's accepts.
func (s *testServer) transfer(tb testing.TB, from, to fixtures.Person, yp, team string) {
	tb.Helper()
	tr := s.admin(tb, from, "/v1/admin/transfers", map[string]string{"young_person_id": yp, "to_team": team, "reason": "test"})
	id, ok := tr["id"].(float64)
	if !ok {
		tb.Fatalf("transfer: %+v", tr)
	}
	if got := s.admin(tb, to, fmt.Sprintf("/v1/admin/transfers/%d/accept", int64(id)), nil); got["status"] != "accepted" {
		tb.Fatalf("transfer accept: %+v", got)
	}
}
