package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

const quarantineCols = `id, COALESCE(device_id, ''), replica_id, start, code, message, body, created, COALESCE(reviewed_by, ''), reviewed_at, COALESCE(resolution, '')`

func scanQuarantine(sc interface{ Scan(...any) error }) (domain.QuarantineItem, error) {
	var q domain.QuarantineItem
	var created string
	err := sc.Scan(&q.ID, &q.DeviceID, &q.ReplicaID, &q.Start, &q.Code, &q.Message, &q.Body, &created, &q.ReviewedBy, nullTime{&q.ReviewedAt}, &q.Resolution)
	q.Created = parseTime(created)
	return q, err
}

// Quarantine lists quarantined changesets, newest first.
func (db *DB) Quarantine(ctx context.Context, f domain.QuarantineFilter) ([]domain.QuarantineItem, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	var out []domain.QuarantineItem
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+quarantineCols+` FROM quarantine
			WHERE (? = 0 OR reviewed_at IS NULL) AND (? = '' OR device_id = ?) ORDER BY id DESC LIMIT ?`,
			f.Open, f.DeviceID, f.DeviceID, f.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q, err := scanQuarantine(rows)
			if err != nil {
				return err
			}
			out = append(out, q)
		}
		return rows.Err()
	})
	return out, err
}

// QuarantineSize is the number of unreviewed quarantined changesets (a metric).
func (db *DB) QuarantineSize(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL`).Scan(&n)
	return n, err
}

// ReviewQuarantine resolves a quarantined changeset. Release applies it
// (bypassing the scope check: the reviewer vouches for it) if it still
// applies and validates; discard keeps it on record unapplied.
func (db *DB) ReviewQuarantine(ctx context.Context, id int64, by, resolution string) error {
	if resolution != domain.ResolutionRelease && resolution != domain.ResolutionDiscard {
		return domain.Errorf(domain.EINVALID, "review quarantine", "resolution must be release or discard")
	}
	return db.update(ctx, func(tx *Tx) error {
		q, err := scanQuarantine(tx.QueryRowContext(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("quarantine item", "")
		} else if err != nil {
			return err
		}
		if !q.ReviewedAt.IsZero() {
			return domain.Errorf(domain.ECONFLICT, "review quarantine", "already reviewed")
		}
		if resolution == domain.ResolutionRelease {
			cs, err := syncengine.DecodeChangeset(q.Body)
			if err != nil {
				return err
			}
			ap := newApplier(ctx, tx)
			applied, err := syncengine.Apply(cs, ap.getter)
			if err != nil {
				return err
			}
			switch applied.Status {
			case syncengine.Pending:
				return domain.Errorf(domain.EMISSINGDEP, "review quarantine", "the changes it depends on have still not arrived")
			case syncengine.Applied:
				before := map[syncengine.RecordID]*syncengine.Record{}
				for _, d := range cs.Deps {
					before[d.Record], _ = ap.getter(d.Record)
				}
				if err := syncengine.CheckChangeset(cs, before, applied.Records); err != nil {
					return err
				}
				seq, err := ap.commit(q.DeviceID, cs, applied.Records, &domain.SyncResult{})
				if err != nil {
					return err
				}
				if err := ap.resendReleased(seq, cs); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE quarantine SET reviewed_by = ?, reviewed_at = ?, resolution = ? WHERE id = ?`,
			by, tx.NowText(), resolution, id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.AuditEntry{PersonID: by, DeviceID: q.DeviceID, Action: domain.ActionReview,
			Detail: map[string]any{"quarantine_id": id, "resolution": resolution, "code": q.Code}})
	})
}

// Stats counts the log, records, active devices and open quarantine.
func (db *DB) Stats(ctx context.Context) (domain.LogStats, error) {
	var s domain.LogStats
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(seq), 0) FROM changesets), (SELECT COUNT(*) FROM records),
		(SELECT COUNT(*) FROM devices WHERE status = 'active'), (SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL)`).
		Scan(&s.Changesets, &s.Records, &s.Devices, &s.Quarantine)
	return s, err
}

// RecordState returns a record's stored state (nil, nil if unknown), for the portal.
func (db *DB) RecordState(ctx context.Context, id string) (*syncengine.Record, error) {
	var state []byte
	var crc sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT state, crc FROM records WHERE id = ?`, id).Scan(&state, &crc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	rec, err := syncengine.DecodeRecord(state)
	if err != nil || !sound(state, crc) {
		db.markDamaged("record", id)
		return nil, domain.Errorf(domain.EUNAVAILABLE, "record state", "the server's stored copy of this record is damaged (see docs/operations.md, Damaged records)")
	}
	return rec, nil
}

// Records lists stored record states matching f, by id (the portal's lists).
func (db *DB) Records(ctx context.Context, f domain.RecordFilter) ([]*syncengine.Record, error) {
	if f.Limit <= 0 {
		f.Limit = 10000
	}
	q := `SELECT r.id, r.state, r.crc FROM records r WHERE (? = '' OR r.type = ?) AND (? = '' OR r.service_id = ?) AND (? = '' OR r.young_person_id = ?)`
	args := []any{f.Type, f.Type, f.ServiceID, f.ServiceID, f.YoungPersonID, f.YoungPersonID}
	if len(f.TeamIDs) > 0 {
		s := domain.Scope{Teams: f.TeamIDs}
		frag, a := scopeFilter(s)
		q += " AND " + frag
		args = append(args, a...)
	}
	q += ` ORDER BY r.id LIMIT ?`
	args = append(args, f.Limit)
	var out []*syncengine.Record
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var state []byte
			var crc sql.NullInt64
			if err := rows.Scan(&id, &state, &crc); err != nil {
				return err
			}
			r, err := syncengine.DecodeRecord(state)
			if err != nil || !sound(state, crc) {
				// One damaged record must not take the team's lists down.
				db.markDamaged("record", id)
				continue
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}
