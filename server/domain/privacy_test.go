package domain

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

func rec(typ string, regs map[string]any, at time.Time) *syncengine.Record {
	r := &syncengine.Record{ID: "r1", Type: typ, Fields: map[string]*syncengine.Field{}}
	ts := syncengine.Timestamp(uint64(at.UnixMilli()) << 16)
	for k, v := range regs {
		b, _ := json.Marshal(v)
		r.Fields[k] = &syncengine.Field{Kind: syncengine.KindRegister, Values: []syncengine.RegValue{{Time: ts, Value: b}}}
	}
	return r
}

func TestRetentionSince(t *testing.T) {
	start := time.Date(2022, 5, 1, 18, 0, 0, 0, time.UTC)
	end := start.Add(2 * time.Hour)
	written := time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		r      *syncengine.Record
		want   time.Time
		wantOK bool
	}{
		{"encounter ended", rec(syncengine.TypeEncounter, map[string]any{"started_at": start, "ended_at": end}, written), end, true},
		{"encounter started only", rec(syncengine.TypeEncounter, map[string]any{"started_at": start}, written), start, true},
		{"referral closed", rec(syncengine.TypeReferral, map[string]any{"status": "closed"}, written), written, true},
		{"referral declined", rec(syncengine.TypeReferral, map[string]any{"status": "declined"}, written), written, true},
		{"referral open", rec(syncengine.TypeReferral, map[string]any{"status": "accepted"}, written), time.Time{}, false},
		{"follow-up done", rec(syncengine.TypeFollowUp, map[string]any{"status": "done"}, written), written, true},
		{"follow-up open", rec(syncengine.TypeFollowUp, map[string]any{"status": "open"}, written), time.Time{}, false},
		{"young person: no basis", rec(syncengine.TypeYoungPerson, map[string]any{"known_as": "x"}, written), time.Time{}, false},
	} {
		got, ok := RetentionSince(tc.r)
		if ok != tc.wantOK || !got.Equal(tc.want) {
			t.Errorf("%s: RetentionSince = %v %v, want %v %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestSummariseAndHold(t *testing.T) {
	s := Summarise([]Access{{PersonID: "b", DeviceID: "d2"}, {PersonID: "a"}, {PersonID: "b", DeviceID: "d1"}, {PersonID: "a"}})
	if len(s.People) != 2 || s.People[0] != "a" || len(s.Devices) != 2 || s.Devices[0] != "d1" {
		t.Fatalf("Summarise = %+v", s)
	}
	held := rec(syncengine.TypeYoungPerson, map[string]any{"safeguarding_hold": true}, time.Now())
	if !SafeguardingHold(held) || SafeguardingHold(rec(syncengine.TypeYoungPerson, map[string]any{"safeguarding_hold": "true"}, time.Now())) || SafeguardingHold(nil) {
		t.Fatal("SafeguardingHold")
	}
	held.Erased = &syncengine.Erasure{}
	if SafeguardingHold(held) {
		t.Fatal("an erased profile holds nothing")
	}
}
