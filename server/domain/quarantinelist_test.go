package domain_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestPropertyListDecidedIsTheFirstDecided: over random candidate sets,
// page sizes and decisions, ListDecided returns exactly the first limit
// candidates (newest first) that decide accepts, reading pages by id
// without skipping or repeating one.
func TestPropertyListDecidedIsTheFirstDecided(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 500 {
		n := r.IntN(3 * domain.ReviewerListPage)
		var all []domain.QuarantineItem
		id := int64(0)
		for range n {
			id += 1 + r.Int64N(3)
			all = append(all, domain.QuarantineItem{ID: id})
		}
		slices.Reverse(all) // newest first, as the stores list
		yes := map[int64]bool{}
		for _, q := range all {
			yes[q.ID] = r.IntN(4) != 0
		}
		limit := 1 + r.IntN(2*domain.ReviewerListPage)
		seen := map[int64]int{}
		page := func(before int64, size int) ([]domain.QuarantineItem, error) {
			var out []domain.QuarantineItem
			for _, q := range all {
				if (before == 0 || q.ID < before) && len(out) < size {
					out = append(out, q)
				}
			}
			return out, nil
		}
		got, err := domain.ListDecided(limit, page, func(q domain.QuarantineItem) (bool, error) {
			seen[q.ID]++
			return yes[q.ID], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []domain.QuarantineItem
		for _, q := range all {
			if yes[q.ID] && len(want) < limit {
				want = append(want, q)
			}
		}
		ids := func(qs []domain.QuarantineItem) []int64 {
			out := make([]int64, len(qs))
			for i, q := range qs {
				out[i] = q.ID
			}
			return out
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("round %d: %d candidates, limit %d: got %d items, want %d", round, n, limit, len(got), len(want))
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("round %d: item %d decided %d times", round, id, k)
			}
		}
	}
}

// TestQuarantineRefs: the records a save writes and those that would file
// them, each once; values that are not strings name nothing.
func TestQuarantineRefs(t *testing.T) {
	val := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	for _, tc := range []struct {
		name string
		cs   syncengine.Changeset
		want []string
	}{
		{"a note's records", syncengine.Changeset{Deps: []syncengine.Dep{{Record: "r1"}, {Record: "r2"}}}, []string{"r1", "r2"}},
		{"filed under a young person and a referral", syncengine.Changeset{Deps: []syncengine.Dep{{Record: "fu"}},
			Ops: []syncengine.Op{
				{Record: "fu", Kind: syncengine.OpSet, Field: "young_person_id", Value: val("yp")},
				{Record: "fu", Kind: syncengine.OpSet, Field: "referral_id", Value: val("ref")},
				{Record: "fu", Kind: syncengine.OpSet, Field: "note_id", Value: val("other")},
			}}, []string{"fu", "yp", "ref"}},
		{"each once", syncengine.Changeset{Deps: []syncengine.Dep{{Record: "yp"}, {Record: "fu"}},
			Ops: []syncengine.Op{{Record: "fu", Kind: syncengine.OpSet, Field: "young_person_id", Value: val("yp")}}}, []string{"yp", "fu"}},
		{"not a string", syncengine.Changeset{Deps: []syncengine.Dep{{Record: "fu"}},
			Ops: []syncengine.Op{{Record: "fu", Kind: syncengine.OpSet, Field: "young_person_id", Value: val(42)},
				{Record: "fu", Kind: syncengine.OpSet, Field: "referral_id", Value: val("")}}}, []string{"fu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.QuarantineRefs(&tc.cs); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := domain.QuarantineRefsOf([]byte("not a changeset")); got != nil {
		t.Fatalf("refs of a body that does not decode: %q", got)
	}
}
