package sqlite

import (
	"context"
	"encoding/json"

	"github.com/joinedup/joinedup/server/domain"
)

// AppendAudit writes one audit entry.
func (db *DB) AppendAudit(ctx context.Context, e domain.AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error { return appendAudit(ctx, tx, e) })
}

func appendAudit(ctx context.Context, tx *Tx, e domain.AuditEntry) error {
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = domain.MarshalDetail(e.Detail); err != nil {
			return err
		}
	}
	at := tx.now
	if !e.At.IsZero() {
		at = e.At
	}
	row := auditRow{domain.AuditRow{At: formatTime(at), Person: e.PersonID, Device: e.DeviceID, Action: e.Action, Record: e.RecordID, Detail: string(detail)}}
	if tx.auditTail == nil {
		tail, chained, err := readAuditTail(ctx, tx)
		if err != nil {
			return err
		}
		if !chained {
			r, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, person_id, device_id, action, record_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
				row.At, nullString(row.Person), nullString(row.Device), row.Action, nullString(row.Record), row.Detail)
			if err != nil {
				return err
			}
			id, err := r.LastInsertId()
			if err != nil {
				return err
			}
			return chainAuditRow(ctx, tx, id)
		}
		tx.auditTail = &tail
	}
	// Sealed as written: the id AUTOINCREMENT would give, and the hash over
	// the previous row's, known from the tail this transaction keeps.
	row.ID = tx.auditTail.id + 1
	h := row.digest(tx.auditTail.hash)
	if tx.audit.on {
		tx.audit.rows = append(tx.audit.rows, sealedAudit{row, tx.auditTail.hash, h})
		tx.auditTail.id, tx.auditTail.hash = row.ID, h
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, at, person_id, device_id, action, record_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.ID, row.At, nullString(row.Person), nullString(row.Device), row.Action, nullString(row.Record), row.Detail, tx.auditTail.hash, h); err != nil {
		tx.auditTail = nil
		return err
	}
	tx.auditTail.id, tx.auditTail.hash = row.ID, h
	return nil
}

// auditBuffer keeps a sync's audit rows, sealed (ids and hashes given as
// appendAudit gives them), to insert together: a page of 200 changesets
// writes 200 rows. The sync's work starts it (start) and inserts them
// before it ends (flush); whatever reads audit_log in between flushes
// first. A sync that fails drops its rows with its savepoint, and the
// transaction's tail is read again (group.go).
type auditBuffer struct {
	on   bool
	rows []sealedAudit
}

type sealedAudit struct {
	auditRow
	prev, hash string
}

// bufferAudit starts keeping tx's audit rows (until flushAudit).
func (tx *Tx) bufferAudit() { tx.audit = auditBuffer{on: true} }

// flushAudit inserts the kept audit rows. Buffering stays as it was.
func (tx *Tx) flushAudit(ctx context.Context) error {
	rows := make([][]any, len(tx.audit.rows))
	for i, r := range tx.audit.rows {
		rows[i] = []any{r.ID, r.At, nullString(r.Person), nullString(r.Device), r.Action, nullString(r.Record), r.Detail, r.prev, r.hash}
	}
	tx.audit.rows = nil
	if err := insertRows(ctx, tx, `INSERT INTO audit_log (id, at, person_id, device_id, action, record_id, detail, prev_hash, hash) VALUES `, "", rows); err != nil {
		tx.auditTail = nil
		return err
	}
	return nil
}

// endAudit inserts the kept rows and stops keeping them.
func (tx *Tx) endAudit(ctx context.Context) error {
	err := tx.flushAudit(ctx)
	tx.audit = auditBuffer{}
	return err
}

// Audit lists audit entries, newest first.
func (db *DB) Audit(ctx context.Context, f domain.AuditFilter) ([]domain.AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	until := "9999"
	if !f.Until.IsZero() {
		until = formatTime(f.Until)
	}
	var out []domain.AuditEntry
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail
			FROM audit_log
			WHERE (? = '' OR person_id = ?) AND (? = '' OR device_id = ?) AND (? = '' OR action = ?) AND (? = '' OR record_id = ?
			    OR (record_id IS NULL AND action IN ('write', 'erase') AND EXISTS (SELECT 1 FROM json_each(detail, '$.records') j WHERE j.value = ?)))
			  AND at >= ? AND at < ? AND (? = 0 OR id < ?)
			ORDER BY id DESC LIMIT ?`,
			f.PersonID, f.PersonID, f.DeviceID, f.DeviceID, f.Action, f.Action, f.RecordID, f.RecordID, f.RecordID,
			formatTime(f.Since), until, f.BeforeID, f.BeforeID, f.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e domain.AuditEntry
			var at, detail string
			if err := rows.Scan(&e.ID, &at, &e.PersonID, &e.DeviceID, &e.Action, &e.RecordID, &detail); err != nil {
				return err
			}
			e.At = parseTime(at)
			_ = json.Unmarshal([]byte(detail), &e.Detail)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// RecordSharingDecision appends a sharing decision and its audit entry.
func (db *DB) RecordSharingDecision(ctx context.Context, d domain.SharingDecision) error {
	return db.update(ctx, func(tx *Tx) error { return recordSharingDecision(ctx, tx, d) })
}

func recordSharingDecision(ctx context.Context, tx *Tx, d domain.SharingDecision) error {
	switch d.Decision {
	case "given", "refused":
	case "shared_without_consent":
		if d.Justification == "" {
			return domain.Errorf(domain.EINVALID, "record sharing decision", "sharing without consent needs a justification")
		}
	default:
		return domain.Errorf(domain.EINVALID, "record sharing decision", "unknown decision %q", d.Decision)
	}
	at := tx.now
	if !d.At.IsZero() {
		at = d.At
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sharing_decisions (referral_id, decision, justification, decided_by, at) VALUES (?, ?, ?, ?, ?)`,
		d.ReferralID, d.Decision, d.Justification, d.DecidedBy, formatTime(at)); err != nil {
		return err
	}
	return appendAudit(ctx, tx, domain.AuditEntry{PersonID: d.DecidedBy, Action: domain.ActionShare, RecordID: d.ReferralID,
		Detail: map[string]any{"decision": d.Decision}})
}

// SharingDecisions lists the decisions about one referral, oldest first.
func (db *DB) SharingDecisions(ctx context.Context, referralID string) ([]domain.SharingDecision, error) {
	var out []domain.SharingDecision
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, referral_id, decision, justification, decided_by, at FROM sharing_decisions WHERE referral_id = ? ORDER BY id`, referralID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d domain.SharingDecision
			var at string
			if err := rows.Scan(&d.ID, &d.ReferralID, &d.Decision, &d.Justification, &d.DecidedBy, &at); err != nil {
				return err
			}
			d.At = parseTime(at)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}
