package mobilesdk

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Two workers edit the same encounter note and the same referral offline, a
// supervisor changes the referral meanwhile, and all three reconnect in
// different orders: every phone and the server end with identical records,
// both workers' text, the conflicting scalar fields flagged with who wrote
// each value, and nothing duplicated.
func TestThreePhonesConvergeThroughServer(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 0, "supervisor", 0)
	w1, w2 := s.person(t, 0, "worker", 0), s.person(t, 0, "worker", 1)
	team := w1.TeamID
	a, b, sv := s.enrolPhone(t, sup, w1), s.enrolPhone(t, sup, w2), s.enrolPhone(t, sup, sup)
	phones := map[string]*Client{"A": a, "B": b, "S": sv}
	// The server is the package's: the team may already hold records a
	// first sync leaves for later (a done follow-up of an earlier test, or
	// of this one's first run under -count=2). Each phone brings them, as
	// it would on Wi-Fi, so every phone is compared with the whole team.
	for _, c := range phones {
		for more := true; more; {
			var err error
			if more, err = c.FetchOlder(); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, order := range []string{"ABS", "SBA", "BSA"} {
		t.Run("reconnect-"+order, func(t *testing.T) {
			// Texts are unique to this run: the server outlives it (-count=N).
			tag := fmt.Sprintf("%s %x", order, time.Now().UnixNano()&0xffffff)
			firstNote, firstReason := "Met at the shelter ("+tag+").", "Needs somewhere to stay ("+tag+")."
			// A records an encounter and drafts a referral; everyone syncs.
			yp := mustS(t)(a.CreateYoungPerson(`{"known_as":"Robin ` + order + `"}`))
			enc := mustS(t)(a.CreateEncounter(`{"area":"Bus station","note":"` + firstNote + `","young_people":["` + yp + `"]}`))
			ref := mustS(t)(a.DraftReferral(yp, `{"reason":"`+firstReason+`","service_id":"svc-housing","urgency":"soon"}`))
			for _, k := range "ABS" {
				syncOK(t, phones[string(k)])
			}
			for _, c := range phones {
				must(t, c.ConnectivityChanged(false))
			}

			// Offline edits.
			must(t, a.InsertText(enc, "note", int64(len([]rune(firstNote))), " A: she asked about college."))
			must(t, a.Update(enc, `{"concern_level":"medium"}`))
			must(t, a.InsertText(ref, "reason", 0, "A: urgent, sleeping out. "))
			must(t, a.Update(ref, `{"urgency":"urgent"}`))

			must(t, b.InsertText(enc, "note", 0, "B: cold night. "))
			must(t, b.Update(enc, `{"concern_level":"high"}`))
			must(t, b.InsertText(ref, "reason", int64(len([]rune(firstReason))), " B: sofa surfing at a cousin's."))
			must(t, b.Update(ref, `{"urgency":"routine"}`))
			must(t, b.RecordConsent(ref, "given", ""))

			must(t, sv.Update(ref, `{"service_id":"svc-social-care"}`))
			must(t, sv.RecordConsent(ref, "not_asked", ""))

			if _, err := a.SyncNow(); ErrorCode(err) != EOFFLINE {
				t.Fatalf("sync while offline: %v, want offline", err)
			}

			// Reconnect in this order, then once more each so everyone has
			// everyone else's changes.
			for pass := 0; pass < 2; pass++ {
				for _, k := range order {
					c := phones[string(k)]
					must(t, c.ConnectivityChanged(true))
					syncOK(t, c)
				}
			}

			server := s.serverRecords(t, team)
			for name, c := range phones {
				st := status(t, c)
				if st.PendingChangesets != 0 || st.HeldChangesets != 0 || len(st.Quarantined) != 0 {
					t.Fatalf("phone %s: pending %d, held %d, quarantined %v", name, st.PendingChangesets, st.HeldChangesets, st.Quarantined)
				}
				sameRecords(t, "phone "+name+" vs server", phoneRecords(t, c), server)
			}

			ev := view(t, b, enc)
			note := str(t, ev, "note")
			for _, part := range []string{firstNote, " A: she asked about college.", "B: cold night. "} {
				if strings.Count(note, part) != 1 {
					t.Errorf("note %q: want %q exactly once", note, part)
				}
			}
			rv := view(t, sv, ref)
			reason := str(t, rv, "reason")
			for _, part := range []string{"A: urgent, sleeping out. ", firstReason, " B: sofa surfing at a cousin's."} {
				if strings.Count(reason, part) != 1 {
					t.Errorf("reason %q: want %q exactly once", reason, part)
				}
			}
			if got := str(t, rv, "service_id"); got != "svc-social-care" {
				t.Errorf("service_id = %q: the supervisor's unopposed change should stand", got)
			}
			wantConflicts(t, ev, "concern_level", map[string]string{"medium": w1.ID, "high": w2.ID})
			wantConflicts(t, rv, "urgency", map[string]string{"urgent": w1.ID, "routine": w2.ID})
			wantConflicts(t, rv, "consent", map[string]string{"given": w2.ID, "not_asked": sup.ID})
			if len(ev.Conflicts) != 1 || len(rv.Conflicts) != 2 {
				t.Errorf("conflicts: encounter %v, referral %v", ev.Conflicts, rv.Conflicts)
			}
			// Conflicts() is the same list for the UI.
			var cs []syncengine.ConflictView
			must(t, json.Unmarshal([]byte(mustS(t)(a.Conflicts(ref))), &cs))
			if len(cs) != 2 || cs[0].Field != "consent" || cs[1].Field != "urgency" {
				t.Errorf("Conflicts(ref) = %+v", cs)
			}
			// Nothing duplicated: one encounter and one referral carry this round's texts.
			for name, c := range phones {
				encs, refs := 0, 0
				for _, r := range phoneRecords(t, c) {
					rec, err := syncengine.DecodeRecord(r)
					must(t, err)
					if rec.String("note") == note {
						encs++
					}
					if rec.String("reason") == reason {
						refs++
					}
				}
				if encs != 1 || refs != 1 {
					t.Errorf("phone %s: the encounter appears %d times, the referral %d", name, encs, refs)
				}
			}
			// Resolving is writing a new value; it reaches everyone.
			must(t, b.Resolve(ref, "urgency", `"urgent"`))
			must(t, sv.Resolve(enc, "concern_level", `"high"`))
			for _, k := range "BSAB" {
				syncOK(t, phones[string(k)])
			}
			for name, c := range phones {
				if got := mustS(t)(c.Conflicts(ref)); !strings.Contains(got, `"consent"`) || strings.Contains(got, `"urgency"`) {
					t.Errorf("phone %s after resolving urgency: conflicts %s", name, got)
				}
				if got := mustS(t)(c.Conflicts(enc)); got != "[]" {
					t.Errorf("phone %s after resolving concern_level: conflicts %s", name, got)
				}
			}
			sameRecords(t, "phone A vs server after resolving", phoneRecords(t, a), s.serverRecords(t, team))
		})
	}
}

// wantConflicts checks a field is in conflict with exactly these values and writers.
func wantConflicts(t *testing.T, v syncengine.View, field string, want map[string]string) {
	t.Helper()
	for _, c := range v.Conflicts {
		if c.Field != field {
			continue
		}
		got := map[string]string{}
		for _, x := range c.Values {
			var s string
			json.Unmarshal(x.Value, &s)
			got[s] = x.Author
		}
		if len(got) != len(want) {
			t.Errorf("%s conflict values %v, want %v", field, got, want)
		}
		for val, who := range want {
			if got[val] != who {
				t.Errorf("%s: value %q written by %q, want %q (all: %v)", field, val, got[val], who, got)
			}
		}
		return
	}
	var fields []string
	for _, c := range v.Conflicts {
		fields = append(fields, c.Field)
	}
	t.Errorf("%s is not in conflict (conflicts: %v)", field, slices.Clip(fields))
}
