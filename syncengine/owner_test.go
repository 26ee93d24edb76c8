package syncengine

import (
	"encoding/json"
	"testing"
)

func recordWith(typ string, id RecordID, fields map[string]string) *Record {
	r := newRecord(id)
	r.Type = typ
	for k, v := range fields {
		b, _ := json.Marshal(v)
		r.Fields[k] = &Field{Kind: KindRegister, Values: []RegValue{{Value: b}}}
	}
	return r
}

func TestFileRecord(t *testing.T) {
	teams := map[RecordID]string{"yp_b": "team_b", "ref_b": "team_b"}
	teamOf := func(id RecordID) string { return teams[id] }
	submitted := map[string]string{"team_id": "team_a", "young_person_id": "yp_b", "service_id": "svc", "status": "submitted", "consent": "given"}
	for _, tc := range []struct {
		name string
		r    *Record
		own  string
		want Filing
	}{
		{"referral follows its young person, not its team_id", recordWith(TypeReferral, "r1", submitted), "", Filing{"team_b", "svc", "yp_b"}},
		{"referral of an unknown young person keeps its filing", recordWith(TypeReferral, "r1", map[string]string{"team_id": "team_a", "young_person_id": "yp_x", "status": "draft"}), "team_c", Filing{"team_c", "", "yp_x"}},
		{"new referral of an unknown young person: its field", recordWith(TypeReferral, "r1", map[string]string{"team_id": "team_a", "young_person_id": "yp_x", "status": "draft"}), "", Filing{"team_a", "", "yp_x"}},
		{"draft referral is not shared", recordWith(TypeReferral, "r1", map[string]string{"young_person_id": "yp_b", "service_id": "svc", "status": "draft", "consent": "given"}), "", Filing{"team_b", "", "yp_b"}},
		{"refused consent is not shared", recordWith(TypeReferral, "r1", map[string]string{"young_person_id": "yp_b", "service_id": "svc", "status": "accepted", "consent": "refused"}), "", Filing{"team_b", "", "yp_b"}},
		{"shared without consent needs a justification", recordWith(TypeReferral, "r1", map[string]string{"young_person_id": "yp_b", "service_id": "svc", "status": "submitted", "consent": "shared_without_consent"}), "", Filing{"team_b", "", "yp_b"}},
		{"shared without consent with a justification", recordWith(TypeReferral, "r1", map[string]string{"young_person_id": "yp_b", "service_id": "svc", "status": "submitted", "consent": "shared_without_consent", "consent_justification": "risk"}), "", Filing{"team_b", "svc", "yp_b"}},
		{"follow-up of a referral", recordWith(TypeFollowUp, "f1", map[string]string{"team_id": "team_a", "referral_id": "ref_b"}), "", Filing{"team_b", "", ""}},
		{"young person stays where filed", recordWith(TypeYoungPerson, "yp_a", map[string]string{"team_id": "team_b"}), "team_a", Filing{"team_a", "", "yp_a"}},
		{"new young person: its field", recordWith(TypeYoungPerson, "yp_a", map[string]string{"team_id": "team_b"}), "", Filing{"team_b", "", "yp_a"}},
		{"encounter stays where filed", recordWith(TypeEncounter, "e1", map[string]string{"team_id": "team_b"}), "team_a", Filing{"team_a", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FileRecord(tc.r, tc.own, teamOf); got != tc.want {
				t.Fatalf("FileRecord = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestLifecycleChecksEveryCurrentValue: a status write that references
// nothing, or ids the record never had, is checked against every value the
// record holds, not skipped.
func TestLifecycleChecksEveryCurrentValue(t *testing.T) {
	rep := ReplicaID{1}
	accepted := recordWith(TypeReferral, "r1", map[string]string{"status": "accepted"})
	accepted.Fields["status"].Values[0].ID = ID{rep, 7}
	for _, tc := range []struct {
		name string
		to   string
		refs []ID
		ok   bool
	}{
		{"no refs, back to draft", "draft", nil, false},
		{"refs matching nothing, back to submitted", "submitted", []ID{{ReplicaID{9}, 99}}, false},
		{"refs matching nothing, to closed", "closed", []ID{{ReplicaID{9}, 99}}, true},
		{"proper refs, to closed", "closed", []ID{{rep, 7}}, true},
		{"proper refs, back to draft", "draft", []ID{{rep, 7}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := json.Marshal(tc.to)
			cs := &Changeset{Replica: ReplicaID{2}, Start: 1, Author: "w", Deps: []Dep{{Record: "r1"}},
				Ops: []Op{{Kind: OpSet, Record: "r1", Field: "status", Value: v, Refs: tc.refs}}}
			err := checkLifecycle(cs, map[RecordID]*Record{"r1": accepted})
			if (err == nil) != tc.ok {
				t.Fatalf("checkLifecycle = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
