package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// testAuditRowPerChangeset: an accepted changeset is audited by one row that
// names every record it changed, and a filter by any of those records finds
// that row.
func testAuditRowPerChangeset(t *testing.T, e *env) {
	p := e.enrolPhone("w_a")
	var ids []syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) error {
		for _, note := range []string{"first", "second", "third"} {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			if err := set(tx, id, "team_id", "team_a", "area", "park", "started_at", e.now.Add(-time.Hour)); err != nil {
				return err
			}
			if err := tx.InsertText(id, "note", 0, note); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	single := p.encounter("team_a", "alone")
	if res := p.sync(0); res.Accepted != 2 {
		t.Fatalf("push: %+v", res.Results)
	}
	writes, err := e.s.Audit(e.ctx, domain.AuditFilter{DeviceID: p.enrol.DeviceID, Action: domain.ActionWrite})
	e.must(err)
	if len(writes) != 2 {
		t.Fatalf("%d write rows for 2 changesets of 4 records, want 2: %+v", len(writes), writes)
	}
	for _, tc := range []struct {
		record syncengine.RecordID
		others int // other records the row lists
	}{
		{ids[0], 2}, {ids[1], 2}, {ids[2], 2}, {single, 0},
	} {
		got, err := e.s.Audit(e.ctx, domain.AuditFilter{RecordID: string(tc.record), Action: domain.ActionWrite})
		e.must(err)
		if len(got) != 1 {
			t.Fatalf("filter by %s: %d rows, want 1", tc.record, len(got))
		}
		recs, _ := got[0].Detail["records"].([]any)
		if len(recs) != tc.others+1 || !slices.Contains(recs, any(string(tc.record))) {
			t.Errorf("row for %s lists %v", tc.record, recs)
		}
		if tc.others == 0 && got[0].RecordID != string(tc.record) {
			t.Errorf("single-record row has record_id %q, want %s", got[0].RecordID, tc.record)
		}
	}
	if got, _ := e.s.Audit(e.ctx, domain.AuditFilter{RecordID: "no-such-record"}); len(got) != 0 {
		t.Errorf("filter by an unknown record: %+v", got)
	}
}
