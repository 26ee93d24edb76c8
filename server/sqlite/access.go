package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Who saw a child's record: the audit log already holds every portal page
// and export (action read/export with the record id, or a "records" list in
// the detail for list pages) and every phone pull (action sync, with the ids
// of the records the page carried). AccessHistory reads them back for a set
// of records.

// YoungPersonRecords lists every record about a young person the store
// holds, erased ones included: the profile, referrals and follow-ups that
// name them, and encounters whose young_people include them.
func (db *DB) YoungPersonRecords(ctx context.Context, ypID string) ([]string, error) {
	var out []string
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM records WHERE id = ? OR young_person_id = ? ORDER BY id`, ypID, ypID)
		ids, err := collect(rows, err, func(r *sql.Rows) (s string, err error) { return s, r.Scan(&s) })
		if err != nil {
			return err
		}
		out = ids
		rows, err = tx.QueryContext(ctx, `SELECT id, state FROM records WHERE type = ? AND erased = 0`, syncengine.TypeEncounter)
		type row struct {
			id    string
			state []byte
		}
		encs, err := collect(rows, err, func(r *sql.Rows) (x row, err error) { return x, r.Scan(&x.id, &x.state) })
		if err != nil {
			return err
		}
		for _, e := range encs {
			r, err := syncengine.DecodeRecord(e.state)
			if err != nil {
				continue
			}
			if slices.Contains(domain.LinkedYoungPeople(r), ypID) {
				out = append(out, e.id)
			}
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// AccessHistory lists, oldest first, every time a person or device received
// or opened any of ids: phone pulls ("download"), portal pages ("read") and
// exports ("export").
func (db *DB) AccessHistory(ctx context.Context, ids []string) ([]domain.Access, error) {
	out := []domain.Access{}
	if len(ids) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	b, _ := json.Marshal(ids)
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `WITH wanted(id) AS (SELECT value FROM json_each(?))
			SELECT a.id, a.at, COALESCE(a.person_id, ''), COALESCE(a.device_id, ''), a.action, COALESCE(a.record_id, ''), a.detail
			FROM audit_log a
			WHERE a.action IN ('read', 'export', 'sync')
			  AND (a.record_id IN (SELECT id FROM wanted)
			    OR EXISTS (SELECT 1 FROM json_each(a.detail, '$.records') j WHERE j.value IN (SELECT id FROM wanted)))
			ORDER BY a.id`, string(b))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var at, person, device, action, record, detail string
			if err := rows.Scan(&id, &at, &person, &device, &action, &record, &detail); err != nil {
				return err
			}
			var d struct {
				Records []string `json:"records"`
			}
			_ = json.Unmarshal([]byte(detail), &d)
			out = append(out, domain.AccessOf(id, parseTime(at), person, device, action, record, d.Records, want))
		}
		return rows.Err()
	})
	return out, err
}
