package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// Retention on Postgres: the plan is the domain's (domain.PlanRetention);
// a run erases in one transaction whose record reads hold row locks, so it
// is safe while other nodes write (a phone's push to a record being erased
// waits, then applies to the erased record, whose ops the ledger redacts).
// Every node's scheduler asks RunRetentionIfDue hourly; an advisory lock and
// the last run's time, read in the same transaction, make one node run it.

// retentionLockKey is the advisory lock of the daily run ("JU" + 2).
const retentionLockKey = 0x4a5502

// RetentionRules lists the schedule.
func (db *DB) RetentionRules(ctx context.Context) ([]domain.RetentionRule, error) {
	var out []domain.RetentionRule
	err := db.view(ctx, func(tx *Tx) (err error) { out, err = retentionRules(ctx, tx); return err })
	return out, err
}

func retentionRules(ctx context.Context, tx *Tx) ([]domain.RetentionRule, error) {
	rows, err := tx.Query(ctx, `SELECT type, keep_days FROM retention_rules ORDER BY type`)
	return collect(rows, err, func(r pgx.Rows) (x domain.RetentionRule, err error) {
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
		if _, err := tx.Exec(ctx, `INSERT INTO retention_rules (type, keep_days, updated, updated_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (type) DO UPDATE SET keep_days = excluded.keep_days, updated = excluded.updated, updated_by = excluded.updated_by`,
			rule.Type, rule.KeepDays, tx.now, by); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.RetentionRuleAudit(rule, by))
	})
}

// PlaceLegalHold keeps a record from retention and erasure until lifted.
func (db *DB) PlaceLegalHold(ctx context.Context, h domain.LegalHold) error {
	if err := domain.CheckLegalHold(h); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM records WHERE id = $1)`, h.RecordID).Scan(&exists); err != nil {
			return err
		} else if !exists {
			return domain.Errorf(domain.ENOTFOUND, "legal hold", "no record %s", h.RecordID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO legal_holds (record_id, reason, by, at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (record_id) DO UPDATE SET reason = excluded.reason, by = excluded.by, at = excluded.at`,
			h.RecordID, h.Reason, h.By, tx.now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.LegalHoldAudit(h.RecordID, h.By, "placed"))
	})
}

// LiftLegalHold ends a legal hold.
func (db *DB) LiftLegalHold(ctx context.Context, recordID, by string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM legal_holds WHERE record_id = $1`, recordID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.LegalHoldAudit(recordID, by, "lifted"))
	})
}

// RetentionPreview is what a run now would remove, and what it would keep.
func (db *DB) RetentionPreview(ctx context.Context) (plan domain.RetentionPlan, err error) {
	err = db.view(ctx, func(tx *Tx) error { plan, err = retentionPlan(ctx, tx); return err })
	return plan, err
}

func retentionPlan(ctx context.Context, tx *Tx) (domain.RetentionPlan, error) {
	rules, err := retentionRules(ctx, tx)
	if err != nil {
		return domain.RetentionPlan{}, err
	}
	rows, err := tx.Query(ctx, `SELECT record_id FROM legal_holds`)
	ids, err := collect(rows, err, func(r pgx.Rows) (s string, err error) { return s, r.Scan(&s) })
	if err != nil {
		return domain.RetentionPlan{}, err
	}
	holds := map[string]bool{}
	for _, id := range ids {
		holds[id] = true
	}
	return domain.PlanRetention(tx.now, rules, holds, func(typ string) ([]domain.StoredRecord, error) {
		rows, err := tx.Query(ctx, `SELECT id, state FROM records WHERE type = $1 AND NOT erased ORDER BY id`, typ)
		return collect(rows, err, func(r pgx.Rows) (x domain.StoredRecord, err error) { return x, r.Scan(&x.ID, &x.State) })
	}, func(id string) ([]byte, error) {
		var state []byte
		err := tx.QueryRow(ctx, `SELECT state FROM records WHERE id = $1`, id).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return state, err
	})
}

// RunRetention erases what the plan removes, now, and keeps a report (ids only).
func (db *DB) RunRetention(ctx context.Context) (domain.RetentionRun, error) {
	run, _, err := db.runRetention(ctx, false)
	return run, err
}

// RunRetentionIfDue runs retention if the last run was a day ago or more,
// on one node at a time.
func (db *DB) RunRetentionIfDue(ctx context.Context) (bool, domain.RetentionRun, error) {
	run, ran, err := db.runRetention(ctx, true)
	return ran, run, err
}

func (db *DB) runRetention(ctx context.Context, ifDue bool) (run domain.RetentionRun, ran bool, err error) {
	var touched []string
	err = db.update(ctx, func(tx *Tx) error {
		ran, touched = false, nil
		if ifDue {
			var got bool
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, retentionLockKey).Scan(&got); err != nil || !got {
				return err // another node is running it
			}
			last, err := metaTime(ctx, tx, domain.MetaRetentionLast)
			if err != nil || !domain.RetentionDue(tx.now, last) {
				return err
			}
		} else if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, retentionLockKey); err != nil {
			return err
		}
		plan, err := retentionPlan(ctx, tx)
		if err != nil {
			return err
		}
		run, touched, err = domain.CarryOutRetention(tx.now, plan, func(req domain.ErasureRequest) (domain.ErasureResult, error) {
			return eraseTx(ctx, tx, req, nil)
		})
		if err != nil {
			return err
		}
		b, _ := json.Marshal(run.Removed)
		if err := tx.QueryRow(ctx, `INSERT INTO retention_runs (at, removed, held) VALUES ($1, $2::text::jsonb, $3) RETURNING id`,
			tx.now, string(b), run.Held).Scan(&run.ID); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, domain.MetaRetentionLast, tx.now.Format(time.RFC3339Nano)); err != nil {
			return err
		}
		ran = true
		return appendAudit(ctx, tx, domain.RetentionRunAudit(run))
	})
	if err == nil {
		db.poke(ctx, touched)
	}
	return run, ran, err
}

func metaTime(ctx context.Context, tx *Tx, key string) (time.Time, error) {
	var v string
	err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, v)
}

// RetentionRuns lists the latest runs' reports, newest first.
func (db *DB) RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	rows, err := db.pool.Query(ctx, `SELECT id, at, removed::text, held FROM retention_runs ORDER BY id DESC LIMIT $1`, limit)
	return collect(rows, err, func(r pgx.Rows) (x domain.RetentionRun, err error) {
		var removed string
		if err = r.Scan(&x.ID, &x.At, &removed, &x.Held); err != nil {
			return x, err
		}
		x.At = x.At.UTC()
		return x, json.Unmarshal([]byte(removed), &x.Removed)
	})
}
