package domain

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"pgregory.net/rapid"
)

// actionsOfByJSON is appendActions as it was before it skipped decoding values
// that decide nothing: every set's value through json.Unmarshal. The fast
// path must list exactly the same actions.
func actionsOfByJSON(cs *syncengine.Changeset, ops []int, ids []syncengine.ID, b *Stored, r *syncengine.Record) []Action {
	var acts []Action
	add := func(a Action) {
		if !slices.Contains(acts, a) {
			acts = append(acts, a)
		}
	}
	typ := r.Type
	signedOff := b.Exists && b.Rec != nil && b.Rec.String("review_status") == "signed_off"
	var status []syncengine.RegValue
	if b.Exists && b.Rec != nil {
		if b.Rec.Type != "" {
			typ = b.Rec.Type
		}
		if f := b.Rec.Fields["status"]; f != nil {
			status = slices.Clone(f.Values)
		}
	}
	for _, i := range ops {
		op := cs.Ops[i]
		switch op.Kind {
		case syncengine.OpCreate:
			if !b.Exists {
				add(Action{Verb: VerbCreate})
			}
		case syncengine.OpRedacted:
			if b.Exists && b.Rec != nil && b.Rec.Erased != nil {
				add(Action{Verb: VerbSet})
			} else {
				add(Action{Verb: VerbErase})
			}
		case syncengine.OpErase:
			add(Action{Verb: VerbErase})
		case syncengine.OpOmitted:
		case syncengine.OpSet:
			var v any
			_ = json.Unmarshal(op.Value, &v)
			switch {
			case op.Field == syncengine.DeletedField && v == true:
				add(Action{Verb: VerbDelete})
			case op.Field == syncengine.DeletedField && b.Exists && b.Rec != nil && b.Rec.Deleted():
				add(Action{Verb: VerbUndelete})
			case op.Field == "status" && typ == syncengine.TypeReferral:
				to, _ := v.(string)
				froms := []string{}
				for _, sv := range status {
					var s string
					_ = json.Unmarshal(sv.Value, &s)
					if !slices.Contains(froms, s) {
						froms = append(froms, s)
					}
				}
				if len(froms) == 0 {
					froms = append(froms, "")
				}
				for _, from := range froms {
					if from != to {
						add(Action{Verb: VerbTransition, From: from, To: to})
					}
				}
				status = slices.DeleteFunc(status, func(sv syncengine.RegValue) bool { return slices.Contains(op.Refs, sv.ID) })
				status = append(status, syncengine.RegValue{ID: ids[i], Value: op.Value})
			case typ == syncengine.TypeEncounter && (op.Field == "signed_off_by" || op.Field == "review_comment" || op.Field == "review_status" && (v == "signed_off" || signedOff)):
				add(Action{Verb: VerbSignOff})
			default:
				add(Action{Verb: VerbSet, Field: op.Field})
			}
		default:
			add(Action{Verb: VerbSet, Field: op.Field})
		}
	}
	return acts
}

// TestActionsOfMatchesJSONDecoding: on random changesets over random stored
// records, admission names the same actions as when it decoded every value.
func TestActionsOfMatchesJSONDecoding(t *testing.T) {
	values := []string{`true`, `false`, ` true `, `"true"`, `null`, `{`, `"signed_off"`, `"signed\u005foff"`,
		`"draft"`, `"submitted"`, `"sub\u006ditted"`, `""`, "\"\xff\""}
	fields := []string{syncengine.DeletedField, "status", "review_status", "signed_off_by", "note"}
	kinds := []syncengine.OpKind{syncengine.OpCreate, syncengine.OpErase, syncengine.OpRedacted, syncengine.OpOmitted,
		syncengine.OpSet, syncengine.OpSet, syncengine.OpSet, syncengine.OpSet, syncengine.OpSet, syncengine.OpSet, syncengine.OpAdd}
	types := []string{syncengine.TypeReferral, syncengine.TypeEncounter, syncengine.TypeYoungPerson, ""}
	rep := syncengine.ReplicaID{1}
	rapid.Check(t, func(t *rapid.T) {
		cs := &syncengine.Changeset{Replica: rep, Start: 10}
		n := rapid.IntRange(0, 16).Draw(t, "ops")
		for range n {
			op := syncengine.Op{Kind: rapid.SampledFrom(kinds).Draw(t, "kind"), Record: "r1",
				Field: rapid.SampledFrom(fields).Draw(t, "field"), Value: json.RawMessage(rapid.SampledFrom(values).Draw(t, "value"))}
			if rapid.Bool().Draw(t, "refs") {
				op.Refs = []syncengine.ID{{Replica: rep, Seq: uint64(rapid.IntRange(1, 12).Draw(t, "ref"))}}
			}
			cs.Ops = append(cs.Ops, op)
		}
		r := &syncengine.Record{ID: "r1", Type: rapid.SampledFrom(types).Draw(t, "type")}
		b := &Stored{Exists: rapid.Bool().Draw(t, "exists")}
		if rapid.Bool().Draw(t, "rec") {
			b.Rec = &syncengine.Record{ID: "r1", Type: rapid.SampledFrom(types).Draw(t, "btype"), Fields: map[string]*syncengine.Field{}}
			for _, f := range []string{"status", "review_status", syncengine.DeletedField} {
				nv := rapid.IntRange(0, 3).Draw(t, "n"+f)
				if nv == 0 {
					continue
				}
				fd := &syncengine.Field{Kind: syncengine.KindRegister}
				for j := range nv {
					fd.Values = append(fd.Values, syncengine.RegValue{ID: syncengine.ID{Replica: rep, Seq: uint64(j + 1)},
						Value: json.RawMessage(rapid.SampledFrom(values).Draw(t, "v"+f))})
				}
				b.Rec.Fields[f] = fd
			}
		}
		ops := make([]int, n)
		for i := range ops {
			ops[i] = i
		}
		ids := cs.OpIDs()
		got, want := appendActions(nil, cs, ops, ids, b, r), actionsOfByJSON(cs, ops, ids, b, r)
		if !slices.Equal(got, want) {
			t.Fatalf("appendActions = %v, by decoding every value %v", got, want)
		}
	})
}
