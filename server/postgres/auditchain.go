package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// The audit log's hash chain on Postgres (migration 0170). Many nodes insert
// audit rows at once, and identity ids are drawn at insert, not at commit,
// so "the row before" cannot be found by id when a row is written. Rows are
// therefore inserted unchained and sealed afterwards: a sealer, one at a
// time (an advisory lock), gives every committed unchained row the next
// chain position, its predecessor's hash and its own (domain.AuditRow). A
// write that audited something seals right after it commits; a sealer busy
// on another node is not waited for (the next write, or a verification,
// seals what it left). Verification seals first and then walks the chain.

// auditChainKey is the sealer's advisory lock ("JU" + 3).
const auditChainKey = 0x4a5503

// metaChainPos is the highest chain position ever issued, so deleting the
// newest rows shows.
const metaChainPos = "audit_chain_pos"

const auditRowCols = `id, chain_pos, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail::text,
	COALESCE(prev_hash, ''), hash`

// chainHeadSQL reads the chain's last sealed row: its place and hash.
const chainHeadSQL = `SELECT chain_pos, hash FROM audit_log WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1`

func scanAuditRow(r pgx.Row) (domain.AuditRow, error) {
	var a domain.AuditRow
	var pos *int64
	var at time.Time
	var hash *string
	err := r.Scan(&a.ID, &pos, &at, &a.Person, &a.Device, &a.Action, &a.Record, &a.Detail, &a.PrevHash, &hash)
	a.At = at.UTC().Format(time.RFC3339Nano)
	if pos != nil {
		a.Pos = *pos
	}
	if hash != nil {
		a.Hash, a.Chained = *hash, true
	}
	return a, err
}

// sealAudit chains the committed unchained rows, waiting its turn if a
// sealer on another node holds the lock (that one may have read before this
// node's rows committed).
func (db *DB) sealAudit(ctx context.Context) error {
	for {
		n, err := db.sealOnce(ctx)
		if err != nil || n < sealBatch {
			return err
		}
	}
}

const sealBatch = 1000

// startSealer seals in the background after writes that audited (nudge),
// so a sync's latency does not include it.
func (db *DB) startSealer() {
	ctx, cancel := context.WithCancel(context.Background())
	db.sealNudge = make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-db.sealNudge:
			}
			if err := db.sealAudit(ctx); err != nil && ctx.Err() == nil {
				db.log().Warn("postgres: audit chain not sealed; the next write retries", "err", err)
			}
		}
	}()
	db.stopSealer = func() { cancel(); <-done }
}

// nudgeSealer asks the sealer to run (a no-op when it is already asked).
func (db *DB) nudgeSealer() {
	select {
	case db.sealNudge <- struct{}{}:
	default:
	}
}

func (db *DB) sealOnce(ctx context.Context) (int, error) {
	sealed := 0
	err := db.update(ctx, func(tx *Tx) error {
		sealed = 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditChainKey); err != nil {
			return err
		}
		var pos int64
		var prev string
		err := tx.QueryRow(ctx, chainHeadSQL).Scan(&pos, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+auditRowCols+` FROM audit_log WHERE chain_pos IS NULL ORDER BY id LIMIT $1`, sealBatch)
		todo, err := collect(rows, err, func(r pgx.Rows) (domain.AuditRow, error) { return scanAuditRow(r) })
		if err != nil {
			return err
		}
		sealed = len(todo)
		if sealed == 0 {
			return nil
		}
		// One statement for the batch: a week's push audits some 9,000
		// rows, and a statement each was 9,000 round trips. It is planned
		// for each batch (an unnamed statement), not once per connection:
		// a plan kept from when the log was small joined by a full scan of
		// audit_log, and went on doing so as it grew (see prefetch.go's
		// key lists); a plan per batch of up to a thousand rows costs
		// little.
		ids, poss, prevs, hashes := make([]int64, sealed), make([]int64, sealed), make([]string, sealed), make([]string, sealed)
		for i, r := range todo {
			pos++
			h := r.Digest(prev)
			ids[i], poss[i], prevs[i], hashes[i] = r.ID, pos, prev, h
			prev = h
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_log a SET chain_pos = u.pos, prev_hash = u.prev, hash = u.hash
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) u (id, pos, prev, hash) WHERE a.id = u.id`,
			pgx.QueryExecModeCacheDescribe, ids, poss, prevs, hashes); err != nil {
			return err
		}
		return setMeta(ctx, tx, metaChainPos, strconv.FormatInt(pos, 10))
	})
	return sealed, err
}

// VerifyAudit seals what is unsealed and checks the whole chain, naming
// the first row that does not verify.
func (db *DB) VerifyAudit(ctx context.Context) (domain.AuditVerify, error) {
	if err := db.sealAudit(ctx); err != nil {
		return domain.AuditVerify{}, fmt.Errorf("seal audit log: %w", err)
	}
	var res domain.AuditVerify
	err := db.view(ctx, func(tx *Tx) error {
		var c domain.AuditChecker
		rows, err := tx.Query(ctx, `SELECT `+auditRowCols+` FROM audit_log ORDER BY chain_pos NULLS LAST, id`)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanAuditRow(rows)
			if err != nil {
				return err
			}
			if !r.Chained && r.Pos == 0 {
				// Committed after the seal above: the sealer's next round.
				continue
			}
			if !c.Next(r) {
				res = c.Result(0)
				return nil
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		last, err := metaInt(ctx, tx, metaChainPos)
		if err != nil {
			return err
		}
		res = c.Result(last)
		return nil
	})
	return res, err
}
