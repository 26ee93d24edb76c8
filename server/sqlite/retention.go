package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/joinedup/joinedup/server/domain"
)

// Retention: records past their type's period (counted from its basis date,
// domain.RetentionSince) are erased by a daily run, with reason "retention",
// unless a safeguarding hold (on a young person they are about) or a legal
// hold (on the record) applies. The preview and the run compute the plan with
// the same function, so the preview is what the run removes (at the same
// clock).

// metaRetentionLast is when the retention run last ran.
const metaRetentionLast = domain.MetaRetentionLast

// RetentionEvery is how often retention runs.
const RetentionEvery = domain.RetentionEvery

// RetentionRules lists the schedule.
func (db *DB) RetentionRules(ctx context.Context) ([]domain.RetentionRule, error) {
	var out []domain.RetentionRule
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		out, err = retentionRules(ctx, tx)
		return err
	})
	return out, err
}

func retentionRules(ctx context.Context, tx *Tx) ([]domain.RetentionRule, error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, keep_days FROM retention_rules ORDER BY type`)
	return collect(rows, err, func(r *sql.Rows) (x domain.RetentionRule, err error) {
		err = r.Scan(&x.Type, &x.KeepDays)
		x.Basis = domain.RetentionBasis[x.Type]
		return x, err
	})
}

// SetRetentionRule changes one type's period (an admin's decision, audited).
func (db *DB) SetRetentionRule(ctx context.Context, rule domain.RetentionRule, by string) error {
	if err := domain.CheckRetentionRule(rule); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO retention_rules (type, keep_days, updated, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (type) DO UPDATE SET keep_days = excluded.keep_days, updated = excluded.updated, updated_by = excluded.updated_by`,
			rule.Type, rule.KeepDays, tx.NowText(), by); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.RetentionRuleAudit(rule, by))
	})
}

// PlaceLegalHold keeps a record from retention until the hold is lifted.
func (db *DB) PlaceLegalHold(ctx context.Context, h domain.LegalHold) error {
	if err := domain.CheckLegalHold(h); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE id = ?`, h.RecordID).Scan(&n); err != nil {
			return err
		} else if n == 0 {
			return domain.Errorf(domain.ENOTFOUND, "legal hold", "no record %s", h.RecordID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO legal_holds (record_id, reason, by, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (record_id) DO UPDATE SET reason = excluded.reason, by = excluded.by, at = excluded.at`,
			h.RecordID, h.Reason, h.By, tx.NowText()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.LegalHoldAudit(h.RecordID, h.By, "placed"))
	})
}

// LiftLegalHold ends a legal hold.
func (db *DB) LiftLegalHold(ctx context.Context, recordID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM legal_holds WHERE record_id = ?`, recordID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.LegalHoldAudit(recordID, by, "lifted"))
	})
}

// RetentionPreview is what a run now would remove, and what it would keep
// for a hold.
func (db *DB) RetentionPreview(ctx context.Context) (plan domain.RetentionPlan, err error) {
	err = db.view(ctx, func(tx *Tx) error { plan, err = retentionPlan(ctx, tx); return err })
	return plan, err
}

func retentionPlan(ctx context.Context, tx *Tx) (domain.RetentionPlan, error) {
	rules, err := retentionRules(ctx, tx)
	if err != nil {
		return domain.RetentionPlan{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT record_id FROM legal_holds`)
	ids, err := collect(rows, err, func(r *sql.Rows) (s string, err error) { return s, r.Scan(&s) })
	if err != nil {
		return domain.RetentionPlan{}, err
	}
	holds := map[string]bool{}
	for _, id := range ids {
		holds[id] = true
	}
	return domain.PlanRetention(tx.now, rules, holds, func(typ string) ([]domain.StoredRecord, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id, state FROM records WHERE type = ? AND erased = 0 ORDER BY id`, typ)
		return collect(rows, err, func(r *sql.Rows) (x domain.StoredRecord, err error) { return x, r.Scan(&x.ID, &x.State) })
	}, func(id string) ([]byte, error) {
		var state []byte
		err := tx.QueryRowContext(ctx, `SELECT state FROM records WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return state, err
	})
}

// RunRetention erases what the plan removes, now, as one erasure with reason
// "retention", and keeps a report (ids only).
func (db *DB) RunRetention(ctx context.Context) (run domain.RetentionRun, err error) {
	err = db.update(ctx, func(tx *Tx) error {
		plan, err := retentionPlan(ctx, tx)
		if err != nil {
			return err
		}
		run, _, err = domain.CarryOutRetention(tx.now, plan, func(req domain.ErasureRequest) (domain.ErasureResult, error) {
			return eraseTx(ctx, tx, req, nil)
		})
		if err != nil {
			return err
		}
		b, _ := json.Marshal(run.Removed)
		r, err := tx.ExecContext(ctx, `INSERT INTO retention_runs (at, removed, held) VALUES (?, ?, ?)`, tx.NowText(), string(b), run.Held)
		if err != nil {
			return err
		}
		if run.ID, err = r.LastInsertId(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			metaRetentionLast, tx.NowText()); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.RetentionRunAudit(run))
	})
	if err != nil {
		return run, err
	}
	db.checkpointAfterErasure(ctx)
	return run, nil
}

// RunRetentionIfDue runs retention if the last run was RetentionEvery ago or
// more, by the store's clock (the server checks hourly).
func (db *DB) RunRetentionIfDue(ctx context.Context) (ran bool, run domain.RetentionRun, err error) {
	last, err := db.Meta(ctx, metaRetentionLast)
	if err != nil {
		return false, run, err
	}
	if last != "" && !domain.RetentionDue(db.Now(), parseTime(last)) {
		return false, run, nil
	}
	run, err = db.RunRetention(ctx)
	return err == nil, run, err
}

// RetentionRuns lists the latest runs' reports, newest first.
func (db *DB) RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	var out []domain.RetentionRun
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, at, removed, held FROM retention_runs ORDER BY id DESC LIMIT ?`, limit)
		var err2 error
		out, err2 = collect(rows, err, func(r *sql.Rows) (x domain.RetentionRun, err error) {
			var at, removed string
			if err = r.Scan(&x.ID, &at, &removed, &x.Held); err != nil {
				return x, err
			}
			x.At = parseTime(at)
			err = json.Unmarshal([]byte(removed), &x.Removed)
			return x, err
		})
		return err2
	})
	return out, err
}
