package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// AppendAudit adds an entry to the append-only audit log.
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
	if tx.audit.on {
		b := &tx.audit
		b.at = append(b.at, at)
		b.person, b.device, b.record = append(b.person, textOrNull(e.PersonID)), append(b.device, textOrNull(e.DeviceID)), append(b.record, textOrNull(e.RecordID))
		b.action, b.detail = append(b.action, e.Action), append(b.detail, string(detail))
		return nil
	}
	tx.audited = true // the sealer chains it after commit
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (at, person_id, device_id, action, record_id, detail) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)`,
		at, nullString(e.PersonID), nullString(e.DeviceID), e.Action, nullString(e.RecordID), string(detail))
	return err
}

// auditBuffer keeps a sync's audit rows, one array per column, to insert
// in one statement: a page of 200 changesets writes 200 rows. Whatever
// reads audit_log in between flushes first (afterErase). The rows are
// inserted already chained, in the order kept (chainAudit).
type auditBuffer struct {
	on                     bool
	at                     []time.Time
	person, device, record []*string
	action, detail         []string
	// with are statements sent in the same round trip as the rows'
	// insert, at the transaction's end (alongAudit).
	with []queued
}

type queued struct {
	sql  string
	args []any
}

// alongAudit sends a statement with the kept audit rows' insert, or alone
// at endAudit if there are none: a write that can wait for the end of the
// transaction costs no round trip of its own.
func (tx *Tx) alongAudit(sql string, args ...any) {
	tx.audit.with = append(tx.audit.with, queued{sql, args})
}

// bufferAudit starts keeping tx's audit rows (until endAudit).
func (tx *Tx) bufferAudit() { tx.audit = auditBuffer{on: true} }

// flushAudit inserts the kept audit rows, in the order they were
// appended, with their places in the chain. Buffering stays as it was.
func (tx *Tx) flushAudit(ctx context.Context) error { return tx.flushAuditChain(ctx, true) }

// flushAuditChain is flushAudit; with wait false it chains the rows only
// if the sealer's lock is free at once, and otherwise inserts them
// unchained for the sealer (auditchain.go), as any audited write does.
func (tx *Tx) flushAuditChain(ctx context.Context, wait bool) error {
	b := tx.audit
	tx.audit = auditBuffer{on: b.on}
	batch := &pgx.Batch{}
	for _, q := range b.with {
		batch.Queue(q.sql, q.args...)
	}
	if len(b.at) == 0 {
		if batch.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, batch).Close()
	}
	c, err := tx.chainAudit(ctx, b, wait)
	if err != nil {
		return fmt.Errorf("chain audit rows: %w", err)
	}
	if !c.locked {
		tx.audited = true // the sealer chains them after commit
		batch.Queue(`INSERT INTO audit_log (id, at, person_id, device_id, action, record_id, detail)
			OVERRIDING SYSTEM VALUE
			SELECT id, at, person_id, device_id, action, record_id, detail::jsonb
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
				AS r (id, at, person_id, device_id, action, record_id, detail)`,
			c.ids, b.at, b.person, b.device, b.action, b.record, b.detail)
		return tx.SendBatch(ctx, batch).Close()
	}
	// The ids were drawn from the identity's sequence (chainAudit).
	batch.Queue(`INSERT INTO audit_log (id, at, person_id, device_id, action, record_id, detail, chain_pos, prev_hash, hash)
		OVERRIDING SYSTEM VALUE
		SELECT id, at, person_id, device_id, action, record_id, detail::jsonb, chain_pos, prev_hash, hash
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[])
			AS r (id, at, person_id, device_id, action, record_id, detail, chain_pos, prev_hash, hash)`,
		c.ids, b.at, b.person, b.device, b.action, b.record, b.detail, c.pos, c.prev, c.hash)
	batch.Queue(setMetaSQL, metaChainPos, strconv.FormatInt(c.pos[len(c.pos)-1], 10))
	return tx.SendBatch(ctx, batch).Close()
}

// chained are buffered audit rows' ids and places in the chain.
type chained struct {
	ids, pos   []int64
	prev, hash []string
	locked     bool // false: the sealer's lock was busy, the rows are not chained
}

// chainAudit gives b's rows ids and the next places in the audit chain, as
// the sealer would after commit (auditchain.go), so the rows are written
// once: sealing each later rewrote the row and every index on audit_log,
// through the append-only trigger, and was a third of Postgres's time in
// the week push. It takes the sealer's lock, held to commit, so no sealer
// on any node chains rows between the head read here and this commit; a
// push already holds the commit lock to its end, so pushes wait on
// nothing new. Each row is hashed as verification will read it: detail as
// jsonb prints it, at as stored.
//
// With wait false the lock is only tried: a transaction that holds no
// other lock of the chain's (a sync's pull, which writes the sync's own
// row) does not queue behind pushes and sealers on every node for it, and
// when the lock is busy its rows go to the sealer unchained.
func (tx *Tx) chainAudit(ctx context.Context, b auditBuffer, wait bool) (chained, error) {
	n := len(b.at)
	c := chained{ids: make([]int64, 0, n), pos: make([]int64, n), prev: make([]string, n), hash: make([]string, n)}
	var pos int64
	var head string
	var details []string
	var ats []time.Time
	batch := &pgx.Batch{}
	c.locked = true
	if wait {
		batch.Queue(`SELECT pg_advisory_xact_lock($1)`, auditChainKey)
	} else {
		batch.Queue(`SELECT pg_try_advisory_xact_lock($1)`, auditChainKey).QueryRow(func(r pgx.Row) error { return r.Scan(&c.locked) })
	}
	// Each statement of the batch sees what committed before it started,
	// so this one sees every seal made before the lock was granted.
	batch.Queue(chainHeadSQL).QueryRow(func(r pgx.Row) error {
		if err := r.Scan(&pos, &head); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	})
	batch.Queue(`SELECT nextval(pg_get_serial_sequence('audit_log', 'id')), d::jsonb::text, a
		FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY u (d, a, n) ORDER BY n`, b.detail, b.at).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id int64
			var d string
			var a time.Time
			if err := rows.Scan(&id, &d, &a); err != nil {
				return err
			}
			c.ids, details, ats = append(c.ids, id), append(details, d), append(ats, a)
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return c, err
	}
	if len(c.ids) != n {
		return c, fmt.Errorf("%d ids for %d rows", len(c.ids), n)
	}
	if !c.locked {
		return c, nil
	}
	for i := range n {
		pos++
		r := domain.AuditRow{ID: c.ids[i], At: ats[i].UTC().Format(time.RFC3339Nano), Person: deref(b.person[i]), Device: deref(b.device[i]),
			Action: b.action[i], Record: deref(b.record[i]), Detail: details[i]}
		c.pos[i], c.prev[i], c.hash[i] = pos, head, r.Digest(head)
		head = c.hash[i]
	}
	return c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// endAudit inserts the kept rows and stops keeping them.
func (tx *Tx) endAudit(ctx context.Context) error {
	err := tx.flushAudit(ctx)
	tx.audit = auditBuffer{}
	return err
}

// appendAuditLast appends e as tx's last statement before commit, chained
// if the sealer's lock is free at once (chainAudit's wait false): the
// lock is held to commit, so nothing may follow that could wait on a
// lock another chain writer holds.
func appendAuditLast(ctx context.Context, tx *Tx, e domain.AuditEntry) error {
	tx.bufferAudit()
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	err := tx.flushAuditChain(ctx, false)
	tx.audit = auditBuffer{}
	return err
}

// Audit reads entries matching f, newest first.
func (db *DB) Audit(ctx context.Context, f domain.AuditFilter) ([]domain.AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	until := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if !f.Until.IsZero() {
		until = f.Until
	}
	rows, err := db.pool.Query(ctx, `SELECT id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail::text
		FROM audit_log
		WHERE ($1 = '' OR person_id = $1) AND ($2 = '' OR device_id = $2) AND ($3 = '' OR action = $3) AND ($4 = '' OR record_id = $4
		    OR (record_id IS NULL AND action IN ('write', 'erase') AND detail->'records' ? $4))
		  AND at >= $5 AND at < $6 AND ($7 = 0 OR id < $7)
		ORDER BY id DESC LIMIT $8`,
		f.PersonID, f.DeviceID, f.Action, f.RecordID, f.Since, until, f.BeforeID, f.Limit)
	return collect(rows, err, func(r pgx.Rows) (e domain.AuditEntry, err error) {
		var detail string
		err = r.Scan(&e.ID, &e.At, &e.PersonID, &e.DeviceID, &e.Action, &e.RecordID, &detail)
		e.At = e.At.UTC()
		_ = json.Unmarshal([]byte(detail), &e.Detail)
		return e, err
	})
}

// recordSharingDecision stores a consent decision and audits it; with
// pending (an applier's deferred rows), the row waits for flushRecords.
func recordSharingDecision(ctx context.Context, tx *Tx, d domain.SharingDecision, pending *[]domain.SharingDecision) error {
	switch d.Decision {
	case "given", "refused":
	case "shared_without_consent":
		if d.Justification == "" {
			return domain.Errorf(domain.EINVALID, "record sharing decision", "sharing without consent needs a justification")
		}
	default:
		return domain.Errorf(domain.EINVALID, "record sharing decision", "unknown decision %q", d.Decision)
	}
	if d.At.IsZero() {
		d.At = tx.now
	}
	if pending != nil {
		*pending = append(*pending, d)
	} else if _, err := tx.Exec(ctx, `INSERT INTO sharing_decisions (referral_id, decision, justification, decided_by, at) VALUES ($1, $2, $3, $4, $5)`,
		d.ReferralID, d.Decision, d.Justification, d.DecidedBy, d.At); err != nil {
		return err
	}
	return appendAudit(ctx, tx, domain.AuditEntry{PersonID: d.DecidedBy, Action: domain.ActionShare, RecordID: d.ReferralID,
		Detail: map[string]any{"decision": d.Decision}})
}

// SharingDecisions lists a referral's consent decisions in order.
func (db *DB) SharingDecisions(ctx context.Context, referralID string) ([]domain.SharingDecision, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, referral_id, decision, justification, decided_by, at FROM sharing_decisions WHERE referral_id = $1 ORDER BY id`, referralID)
	return collect(rows, err, func(r pgx.Rows) (d domain.SharingDecision, err error) {
		err = r.Scan(&d.ID, &d.ReferralID, &d.Decision, &d.Justification, &d.DecidedBy, &d.At)
		d.At = d.At.UTC()
		return d, err
	})
}

// RecordState reads a record's stored state (nil if there is none).
func (db *DB) RecordState(ctx context.Context, id string) (*syncengine.Record, error) {
	var state []byte
	err := db.pool.QueryRow(ctx, `SELECT state FROM records WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return syncengine.DecodeRecord(state)
}

// Records lists stored records matching f, by id.
func (db *DB) Records(ctx context.Context, f domain.RecordFilter) ([]*syncengine.Record, error) {
	if f.Limit <= 0 {
		f.Limit = 10000
	}
	var teams []string
	if len(f.TeamIDs) > 0 {
		teams = f.TeamIDs
	}
	rows, err := db.pool.Query(ctx, `SELECT state FROM records r
		WHERE ($1 = '' OR r.type = $1) AND ($2 = '' OR r.service_id = $2) AND ($3 = '' OR r.young_person_id = $3)
		  AND ($4::text[] IS NULL OR r.team_id = ANY($4))
		ORDER BY r.id LIMIT $5`, f.Type, f.ServiceID, f.YoungPersonID, teams, f.Limit)
	return collect(rows, err, func(r pgx.Rows) (*syncengine.Record, error) {
		var state []byte
		if err := r.Scan(&state); err != nil {
			return nil, err
		}
		return syncengine.DecodeRecord(state)
	})
}

// FiledRecord reads a record with where the server filed it.
func (db *DB) FiledRecord(ctx context.Context, id string) (*syncengine.Record, syncengine.Filing, error) {
	var state []byte
	var f syncengine.Filing
	err := db.pool.QueryRow(ctx, `SELECT state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '') FROM records WHERE id = $1`, id).
		Scan(&state, &f.Team, &f.Service, &f.YoungPerson)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, f, nil
	} else if err != nil {
		return nil, f, err
	}
	r, err := syncengine.DecodeRecord(state)
	return r, f, err
}
