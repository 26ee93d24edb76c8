package storetest

import (
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// testSearch: the full-text index follows every change in the transaction
// that stores it, matches every term as a prefix, stays in the asked teams,
// and never finds a deleted or merged record, nor injected query syntax.
func testSearch(t *testing.T, e *env) {
	pa, pb := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	enc := pa.encounter("team_a", "Talked about college applications and the bus fare")
	other := pb.encounter("team_b", "College open day, wants to go with a friend")
	var yp syncengine.RecordID
	pa.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, yp, "team_id", "team_a", "known_as", "Kezia", "area", "Riverside")
	})
	pa.sync(0)
	pb.sync(0)
	teamA := domain.SearchQuery{TeamIDs: []string{"team_a"}}
	search := func(q domain.SearchQuery, text string) []string {
		t.Helper()
		q.Text = text
		hits, total, err := e.h.Store.Search(e.ctx, q)
		e.must(err)
		if total != len(hits) {
			t.Fatalf("search %q: total %d, %d hits on one page", text, total, len(hits))
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.RecordID)
		}
		slices.Sort(ids)
		return ids
	}
	cases := []struct {
		name string
		q    domain.SearchQuery
		text string
		want []string
	}{
		{"word in a note", teamA, "college", []string{string(enc)}},
		{"prefix, any case", teamA, "COLL appl", []string{string(enc)}},
		{"every term required", teamA, "college friend", nil},
		{"a name", teamA, "kez", []string{string(yp)}},
		{"other team's note not found", teamA, "friend", nil},
		{"whole organisation", domain.SearchQuery{All: true}, "college", sorted(string(enc), string(other))},
		{"no teams: nothing", domain.SearchQuery{}, "college", nil},
		{"query syntax is only words", teamA, `college" OR "friend* NEAR(`, nil},
		{"one letter is no term", teamA, "c", nil},
	}
	for _, tc := range cases {
		if got := search(tc.q, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%s: search %q = %v, want %v", tc.name, tc.text, got, tc.want)
		}
	}

	// An edit replaces the indexed words.
	pa.edit(func(tx *syncengine.Txn) error { return tx.ReplaceText(enc, "note", "Talked about the gym") })
	pa.sync(0)
	if got := search(teamA, "college"); got != nil {
		t.Errorf("after the note was rewritten, college still finds %v", got)
	}
	if got := search(teamA, "gym"); !slices.Equal(got, []string{string(enc)}) {
		t.Errorf("the rewritten note is not found: %v", got)
	}
	// Deleted and merged records are never found.
	pa.edit(func(tx *syncengine.Txn) error { return tx.Delete(enc) })
	pa.sync(0)
	if got := search(teamA, "gym"); got != nil {
		t.Errorf("a deleted encounter is found: %v", got)
	}
	var keep syncengine.RecordID
	_, err := e.h.Store.ServerEdit(e.ctx, "sup_a", func(tx *syncengine.Txn) (err error) {
		if keep, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := set(tx, keep, "team_id", "team_a", "known_as", "Kez", "area", "Riverside"); err != nil {
			return err
		}
		return tx.Set(yp, "merged_into", string(keep))
	})
	e.must(err)
	if got := search(teamA, "kezia"); got != nil {
		t.Errorf("a merged profile is found: %v", got)
	}
	// Paging: the total counts every hit, the page holds Limit.
	hits, total, err := e.h.Store.Search(e.ctx, domain.SearchQuery{All: true, Text: "coll", Limit: 1})
	e.must(err)
	if total != 1 || len(hits) != 1 {
		t.Errorf("paged search: %d hits of %d, want 1 of 1", len(hits), total)
	}
}

func sorted(xs ...string) []string { slices.Sort(xs); return xs }

// testSavedFilters: each person's own, replaced by name, bounded, and nobody
// deletes anybody else's.
func testSavedFilters(t *testing.T, e *env) {
	s := e.h.Store
	f, err := s.SaveFilter(e.ctx, domain.SavedFilter{PersonID: "sup_a", List: "encounters", Name: " Urgent ", Query: "concern=urgent&page=3"})
	e.must(err)
	if f.ID == 0 || f.Name != "Urgent" || f.Query != "concern=urgent" {
		t.Fatalf("saved %+v: want an id, the name trimmed and the page dropped", f)
	}
	again, err := s.SaveFilter(e.ctx, domain.SavedFilter{PersonID: "sup_a", List: "encounters", Name: "Urgent", Query: "concern=urgent&status=awaiting_review"})
	e.must(err)
	if again.ID != f.ID {
		t.Errorf("saving the same name again made a second filter (%d, %d)", f.ID, again.ID)
	}
	_, err = s.SaveFilter(e.ctx, domain.SavedFilter{PersonID: "w_a", List: "encounters", Name: "Mine", Query: "worker=w_a"})
	e.must(err)
	got, err := s.SavedFilters(e.ctx, "sup_a", "encounters")
	e.must(err)
	if len(got) != 1 || got[0].Query != "concern=urgent&status=awaiting_review" {
		t.Errorf("sup_a's encounter filters = %+v", got)
	}
	if other, _ := s.SavedFilters(e.ctx, "sup_a", "referrals"); len(other) != 0 {
		t.Errorf("another list's filters leak: %+v", other)
	}
	bad := []domain.SavedFilter{
		{PersonID: "sup_a", List: "devices", Name: "x", Query: "a=b"},
		{PersonID: "sup_a", List: "encounters", Name: "", Query: "a=b"},
		{PersonID: "sup_a", List: "encounters", Name: "x", Query: "%zz"},
		{PersonID: "", List: "encounters", Name: "x", Query: "a=b"},
	}
	for _, b := range bad {
		if _, err := s.SaveFilter(e.ctx, b); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("save %+v: %v, want invalid", b, err)
		}
	}
	if err := s.DeleteSavedFilter(e.ctx, "w_a", f.ID); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("another person deleted sup_a's filter: %v", err)
	}
	for i := 1; i < domain.MaxSavedFilters; i++ {
		_, err := s.SaveFilter(e.ctx, domain.SavedFilter{PersonID: "sup_a", List: "encounters", Name: string(rune('a' + i)), Query: "q=x"})
		e.must(err)
	}
	if _, err := s.SaveFilter(e.ctx, domain.SavedFilter{PersonID: "sup_a", List: "encounters", Name: "one too many", Query: "q=x"}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("filter %d: %v, want conflict", domain.MaxSavedFilters+1, err)
	}
	e.must(s.DeleteSavedFilter(e.ctx, "sup_a", f.ID))
	if got, _ := s.SavedFilters(e.ctx, "sup_a", "encounters"); len(got) != domain.MaxSavedFilters-1 {
		t.Errorf("after delete: %d filters, want %d", len(got), domain.MaxSavedFilters-1)
	}
}
