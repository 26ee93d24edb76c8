package mobilesdk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestMergeReachesBothPhones: two workers each created a profile of the
// same young person on their phones, with encounters, a referral and a
// follow-up. A supervisor merges the profiles on the server (the portal's
// path: domain.Merge in one ServerEdit) while one phone is offline and still
// editing the merged profile's encounter. After syncing, both phones hold the
// same records as the server: every record follows the kept profile, the
// merged one is marked (not deleted), and neither side's words are lost.
// A worker's phone cannot mark a profile merged itself.
func TestMergeReachesBothPhones(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	ctx := context.Background()
	p1, p2 := s.phone("w_a"), s.phone("w_a2")
	must(t, p1.SetDefaultTeam("team_a"))
	must(t, p2.SetDefaultTeam("team_a"))

	keep := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Jaydon","age_band":"14-15","area":"Brook Park","wants":"Football on Fridays"}`))
	enc1 := mustS(t)(p1.CreateEncounter(fmt.Sprintf(`{"area":"Brook Park","young_people":[%q],"note":"Jaydon at the pitch."}`, keep)))
	lose := mustS(t)(p2.CreateYoungPerson(`{"known_as":"Jayden","age_band":"14-15","area":"brook park","gender":"male","wants":"Somewhere warm"}`))
	enc2 := mustS(t)(p2.CreateEncounter(fmt.Sprintf(`{"area":"Brook Park","young_people":[%q],"note":"Jayden by the shops."}`, lose)))
	ref := mustS(t)(p2.DraftReferral(lose, `{"service_id":"svc_housing","reason":"Needs somewhere warm","urgency":"soon"}`))
	fu := mustS(t)(p2.CreateFollowUp(fmt.Sprintf(`{"young_person_id":%q,"due_at":"2026-03-09T10:00:00Z","note":"Check in"}`, lose)))
	for range 2 {
		for _, c := range []*Client{p1, p2} {
			mustS(t)(c.SyncNow())
		}
	}
	if v := view(t, p1, enc2); str(t, v, "note") != "Jayden by the shops." {
		t.Fatalf("phone 1 should hold phone 2's encounter before the merge, has %v", v.Values)
	}
	// Flagged on save: each phone sees the other's profile as a likely
	// duplicate of its own.
	for _, tc := range []struct {
		c          *Client
		mine, want string
	}{{p1, keep, lose}, {p2, lose, keep}} {
		var dups []syncengine.View
		must(t, json.Unmarshal([]byte(mustS(t)(tc.c.PossibleDuplicates(tc.mine))), &dups))
		if len(dups) != 1 || string(dups[0].ID) != tc.want {
			t.Errorf("possible duplicates of %s: %v, want %s", tc.mine, dups, tc.want)
		}
	}

	// A worker's phone marks the profile merged: refused by the policy.
	must(t, p1.Update(lose, fmt.Sprintf(`{"merged_into":%q}`, keep)))
	mustS(t)(p1.SyncNow())
	if r, _ := s.db.RecordState(ctx, lose); domain.MergedInto(r) != "" {
		t.Fatal("a worker's phone merged a profile")
	}
	q, err := s.db.Quarantine(ctx, domain.QuarantineFilter{})
	must(t, err)
	if len(q) == 0 {
		t.Fatal("the worker's merge was not quarantined")
	}

	// Phone 2 goes on writing about the profile that is about to be merged.
	must(t, p2.InsertText(enc2, "note", int64(len([]rune("Jayden by the shops."))), " Said he is cold at night."))
	s.now = s.now.Add(time.Hour)
	s.mergeOnServer(keep, lose, enc2, ref, fu)
	for range 2 {
		for _, c := range []*Client{p2, p1} {
			mustS(t)(c.SyncNow())
		}
	}

	ids := []string{keep, lose, enc1, enc2, ref, fu}
	for _, id := range ids {
		srv, err := s.db.RecordState(ctx, id)
		must(t, err)
		want := fmt.Sprint(srv.Values())
		for name, c := range map[string]*Client{"phone 1": p1, "phone 2": p2} {
			r, err := c.record("get", id)
			must(t, err)
			if got := fmt.Sprint(r.Values()); got != want {
				t.Errorf("%s's %s differs from the server:\n phone  %s\n server %s", name, id, got, want)
			}
		}
	}
	for name, c := range map[string]*Client{"phone 1": p1, "phone 2": p2} {
		if v := view(t, c, lose); str(t, v, "merged_into") != keep || str(t, v, "wants") != "Somewhere warm" {
			t.Errorf("%s: the merged profile is %v", name, v.Values)
		}
		if d := mustS(t)(c.PossibleDuplicates(keep)); d != "[]" {
			t.Errorf("%s: still a duplicate after the merge: %s", name, d)
		}
		kv := view(t, c, keep)
		if w := str(t, kv, "wants"); !strings.Contains(w, "Football on Fridays") || !strings.Contains(w, "Somewhere warm") || str(t, kv, "gender") != "male" {
			t.Errorf("%s: the kept profile lost a side: %v", name, kv.Values)
		}
		var yps []string
		must(t, json.Unmarshal(view(t, c, enc2).Values["young_people"], &yps))
		if !slices.Equal(yps, []string{keep}) {
			t.Errorf("%s: the encounter names %v, want the kept profile", name, yps)
		}
		if n := str(t, view(t, c, enc2), "note"); n != "Jayden by the shops. Said he is cold at night." {
			t.Errorf("%s: the offline edit was lost: %q", name, n)
		}
		for _, id := range []string{ref, fu} {
			if got := str(t, view(t, c, id), "young_person_id"); got != keep {
				t.Errorf("%s: %s is about %q, want the kept profile", name, id, got)
			}
		}
	}
}

// mergeOnServer folds lose into keep as the portal does (domain.Merge in
// one server edit by the supervisor), moving the records in about.
func (s *e2eServer) mergeOnServer(keep, lose string, about ...string) {
	s.t.Helper()
	_, err := s.db.ServerEdit(context.Background(), "sup_a", func(tx *syncengine.Txn) error {
		m := domain.MergeRequest{Reason: "same young person, met by two workers", By: "Sup A", At: "2 March 2026"}
		var err error
		if m.Winner, err = tx.Record(syncengine.RecordID(keep)); err != nil {
			return err
		}
		if m.Loser, err = tx.Record(syncengine.RecordID(lose)); err != nil {
			return err
		}
		for _, id := range about {
			r, err := tx.Record(syncengine.RecordID(id))
			if err != nil {
				return err
			}
			m.About = append(m.About, r)
		}
		return domain.Merge(tx, m)
	})
	must(s.t, err)
}

// ids are the ids of a JSON array of record views.
func ids(tb testing.TB, listJSON string) []string {
	tb.Helper()
	var vs []syncengine.View
	must(tb, json.Unmarshal([]byte(listJSON), &vs))
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v.ID)
	}
	return out
}

// TestMergedProfilesLeaveThePhonesLists: after a supervisor merges duplicate
// profiles, a phone's list of young people (what the app's list, search and
// "young people met" picker read) holds only the kept profile, and the kept
// profile's chronology holds the merged one's records too — including one
// a phone wrote about the merged profile while offline during the merge,
// which the merge could not move. A chain of merges (A into B, then B into
// C) is followed to C; asking for a merged profile's chronology gives the
// kept one's.
func TestMergedProfilesLeaveThePhonesLists(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	p1, p2 := s.phone("w_a"), s.phone("w_a2")
	must(t, p1.SetDefaultTeam("team_a"))
	must(t, p2.SetDefaultTeam("team_a"))
	keep := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Jaydon","age_band":"14-15","area":"Brook Park"}`))
	lose := mustS(t)(p2.CreateYoungPerson(`{"known_as":"Jayden","age_band":"14-15","area":"Brook Park"}`))
	other := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Mo","age_band":"16-17"}`))
	enc := mustS(t)(p2.CreateEncounter(fmt.Sprintf(`{"area":"Brook Park","young_people":[%q],"note":"By the shops."}`, lose)))
	ref := mustS(t)(p2.DraftReferral(lose, `{"service_id":"svc_housing","reason":"Needs somewhere warm","urgency":"soon"}`))
	syncAll := func() {
		for range 2 {
			for _, c := range []*Client{p1, p2} {
				mustS(t)(c.SyncNow())
			}
		}
	}
	syncAll()

	// Phone 2, offline, meets the young person again under the profile it
	// knows, while the supervisor merges it.
	late := mustS(t)(p2.CreateEncounter(fmt.Sprintf(`{"area":"Brook Park","young_people":[%q],"note":"Cold again."}`, lose)))
	s.now = s.now.Add(time.Hour)
	s.mergeOnServer(keep, lose, enc, ref)
	syncAll()

	check := func(stage, kept string, gone []string, chronology []string) {
		t.Helper()
		for name, c := range map[string]*Client{"phone 1": p1, "phone 2": p2} {
			got := ids(t, mustS(t)(c.List(syncengine.TypeYoungPerson)))
			for _, g := range gone {
				if slices.Contains(got, g) {
					t.Errorf("%s, %s: the young people list still holds the merged profile %s: %v", stage, name, g, got)
				}
			}
			if !slices.Contains(got, kept) || !slices.Contains(got, other) {
				t.Errorf("%s, %s: the young people list %v lacks the kept profile %s or %s", stage, name, got, kept, other)
			}
			for _, from := range append([]string{kept}, gone...) {
				chron := ids(t, mustS(t)(c.Chronology(from)))
				for _, want := range chronology {
					if !slices.Contains(chron, want) {
						t.Errorf("%s, %s: the chronology of %s lacks %s: %v", stage, name, from, want, chron)
					}
				}
				for _, g := range gone {
					if slices.Contains(chron, g) {
						t.Errorf("%s, %s: the chronology of %s shows the merged profile %s", stage, name, from, g)
					}
				}
				if len(chron) == 0 || chron[0] != kept {
					t.Errorf("%s, %s: the chronology of %s does not start with the kept profile %s: %v", stage, name, from, kept, chron)
				}
			}
		}
	}
	check("after one merge", keep, []string{lose}, []string{keep, enc, ref, late})

	// A second duplicate turns up; the kept profile is merged into it.
	third := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Jay","age_band":"14-15","area":"Brook Park"}`))
	enc3 := mustS(t)(p1.CreateEncounter(fmt.Sprintf(`{"area":"Brook Park","young_people":[%q],"note":"Football."}`, third)))
	syncAll()
	s.now = s.now.Add(time.Hour)
	s.mergeOnServer(third, keep, enc, ref)
	syncAll()
	check("after a chain of merges", third, []string{lose, keep}, []string{third, enc, ref, late, enc3})
}
