package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Text tombstone compaction, as server/sqlite's textcompact.go (read it for
// the why): a maintenance pass drops the text tombstones of records no
// device can still need, keeping where they lay (text_compaction); the push
// path places a late edit that names them (applyText) and records that the
// record's phones must be sent its state (text_rebases, pullRebases).

// CompactText compacts the text of records at least minBytes large that
// changed since the pass last looked at them.
func (db *DB) CompactText(ctx context.Context, minBytes int, keep time.Duration) (domain.TextCompactResult, error) {
	var ids []string
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.id FROM records r LEFT JOIN text_compaction t ON t.record_id = r.id
			WHERE NOT r.erased AND octet_length(r.state) >= $1 AND (t.record_id IS NULL OR t.at_seq < r.updated_seq) ORDER BY r.id`, minBytes)
		ids, err = collect(rows, err, func(r pgx.Rows) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		return err
	})
	if err != nil {
		return domain.TextCompactResult{}, err
	}
	return domain.CompactTextPass(ids, func(fn func(*Tx) error) error { return db.update(ctx, fn) },
		func(tx *Tx, id string, res *domain.TextCompactResult) error {
			return compactRecordText(ctx, tx, id, keep, res)
		},
		func(e domain.AuditEntry) error { return db.AppendAudit(ctx, e) })
}

// textWaitSQL: see server/sqlite's (an active device that may write the
// record has not pulled its last change, or a held changeset waits on it;
// a device not seen since $5, the keep window, does not count).
const textWaitSQL = `SELECT EXISTS (SELECT 1 FROM devices d JOIN people p ON p.id = d.person_id
		WHERE d.status = 'active' AND d.last_seen IS NOT NULL AND d.last_cursor < $1 AND ($5::timestamptz IS NULL OR d.last_seen >= $5)
		AND (p.role = 'admin' OR ($2 <> '' AND p.team_id = $2) OR ($3 <> '' AND p.service_id = $3)
			OR ($2 <> '' AND EXISTS (SELECT 1 FROM team_supervisors s WHERE s.person_id = p.id AND s.team_id = $2))))
	OR EXISTS (SELECT 1 FROM held_waits w JOIN quarantine q ON q.id = w.quarantine_id
		WHERE w.record_id IN ($4, '*') AND q.reviewed_at IS NULL)`

func compactRecordText(ctx context.Context, tx *Tx, id string, keep time.Duration, res *domain.TextCompactResult) error {
	var state []byte
	var seq int64
	var team, service string
	var erased bool
	err := tx.QueryRow(ctx, `SELECT state, updated_seq, COALESCE(team_id, ''), COALESCE(service_id, ''), erased FROM records WHERE id = $1 FOR UPDATE`, id).
		Scan(&state, &seq, &team, &service, &erased)
	if errors.Is(err, pgx.ErrNoRows) || erased {
		return nil
	} else if err != nil {
		return err
	}
	res.Looked++
	var wait bool
	var since *time.Time
	if keep > 0 {
		t := tx.now.Add(-keep)
		since = &t
	}
	if err := tx.QueryRow(ctx, textWaitSQL, seq, team, service, id, since).Scan(&wait); err != nil {
		return err
	}
	if wait {
		res.Waiting++
		return nil
	}
	prevBytes, prev, err := textQueries(ctx, tx).Read(id, true)
	if err != nil {
		return err
	}
	rec, err := syncengine.DecodeRecord(state)
	if err != nil {
		return nil // a damaged state is not this pass's to mend
	}
	// updated_seq stays: phones need nothing new, but are sent the smaller
	// state once when it is worth it (the pass, pullCompacted).
	b, vv, comp := domain.CompactRecordText(rec, len(state), prev, prevBytes, res)
	var pass, unsent int64
	if b != nil {
		if _, err := tx.Exec(ctx, `UPDATE records SET state = $1 WHERE id = $2`, b, id); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT unsent_bytes FROM text_compaction WHERE record_id = $1), 0)`, id).Scan(&unsent); err != nil {
			return err
		}
		var send bool
		if send, unsent = domain.CompactedWorthSending(int64(len(state)), int64(len(b)), unsent); send {
			// The row lock, held to commit, orders passes by commit: a
			// pull that reads n sees every record given a pass at or below n.
			if err := tx.QueryRow(ctx, `INSERT INTO meta (key, value) VALUES ($1, '1')
				ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text RETURNING value::bigint`, metaTextCompacted).Scan(&pass); err != nil {
				return fmt.Errorf("text compaction pass: %w", err)
			}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO text_compaction (record_id, vv, state, at_seq, compacted_at, pass, unsent_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (record_id) DO UPDATE SET vv = excluded.vv, state = excluded.state, at_seq = excluded.at_seq, compacted_at = excluded.compacted_at,
			pass = GREATEST(text_compaction.pass, excluded.pass),
			unsent_bytes = CASE WHEN $8 THEN excluded.unsent_bytes ELSE text_compaction.unsent_bytes END`,
		id, vv, comp, seq, tx.now, pass, unsent, b != nil)
	return err
}

// metaTextCompacted is the counter of records whose text a compaction pass
// rewrote (text_compaction.pass, migration 0250).
const metaTextCompacted = "text_compacted"

// textQueries are the text_compaction reads of tx (domain.TextCompactionQueries).
func textQueries(ctx context.Context, tx *Tx) domain.TextCompactionQueries {
	return domain.TextCompactionQueries{
		Any: func() (any bool, err error) {
			err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM text_compaction WHERE vv IS NOT NULL)`).Scan(&any)
			return any, err
		},
		Column: func(id, col string) (b []byte, err error) {
			err = tx.QueryRow(ctx, `SELECT `+col+` FROM text_compaction WHERE record_id = $1`, id).Scan(&b)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, nil
			}
			return b, err
		},
	}
}

// applyText is domain.TextCompactions.Apply with this transaction's reads;
// unseen: ApplyUnseen, for an open quarantined or held item's changeset,
// which this store never stored.
func (a *applier) applyText(cs *syncengine.Changeset, unseen bool) (*syncengine.Result, *syncengine.Changeset, []syncengine.RecordID, error) {
	if a.text.Read == nil {
		a.text = textQueries(a.ctx, a.tx).Compactions()
	}
	if unseen {
		return a.text.ApplyUnseen(cs, a.getter)
	}
	return a.text.Apply(cs, a.getter)
}

func (a *applier) noteRebases(seq int64, recs []syncengine.RecordID) error {
	for _, id := range recs {
		if _, err := a.tx.Exec(a.ctx, `INSERT INTO text_rebases (seq, record_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, seq, string(id)); err != nil {
			return err
		}
	}
	return nil
}

func forgetTextCompaction(ctx context.Context, tx *Tx, ids []string) error {
	for _, q := range []string{`DELETE FROM text_compaction WHERE record_id = ANY($1::text[])`, `DELETE FROM text_rebases WHERE record_id = ANY($1::text[])`} {
		if _, err := tx.Exec(ctx, q, ids); err != nil {
			return err
		}
	}
	return nil
}

// pullRebases: see server/sqlite's. A device starting from nothing (from 0)
// receives every record whole anyway. rebased is readPositions' answer to
// whether text_rebases holds anything after from: most pulls follow no
// compaction, and then there is nothing to read.
func pullRebases(ctx context.Context, tx *Tx, scope domain.Scope, rebased bool, from, to int64, snapshotPage bool, res *domain.SyncResult) error {
	if !rebased || from == 0 || res.Reset {
		return nil
	}
	filter, farg := scopeFilter(scope, 3)
	return pullStates(ctx, tx, `SELECT r.id, r.state, 0::bigint FROM records r
		WHERE r.id IN (SELECT b.record_id FROM text_rebases b WHERE b.seq > $1 AND b.seq <= $2) AND `+filter+` ORDER BY r.id COLLATE "C"`,
		[]any{from, to, farg}, func(id string, state []byte, _ int64) bool {
			domain.AddRebase(res, scope, snapshotPage, id, state)
			return true
		})
}

// pullCompacted: see server/sqlite's. from and to are passes of the text
// compaction counter.
func pullCompacted(ctx context.Context, tx *Tx, scope domain.Scope, from, to int64, snapshotPage bool, budget int, res *domain.SyncResult) error {
	if from >= to || res.Reset || scope.Practitioner() {
		return nil
	}
	filter, farg := scopeFilter(scope, 3)
	page := domain.NewCompactedPage(res, scope, snapshotPage, budget, from)
	err := pullStates(ctx, tx, `SELECT r.id, r.state, b.pass FROM text_compaction b JOIN records r ON r.id = b.record_id
		WHERE b.pass > 0 AND b.pass > $1 AND b.pass <= $2 AND NOT r.erased AND `+filter+` ORDER BY b.pass`,
		[]any{from, to, farg}, page.Add)
	if err != nil {
		return err
	}
	return page.Finish()
}

// pullStates hands add each record state query reads (id, state, a key of
// add's), until add reports false.
func pullStates(ctx context.Context, tx *Tx, query string, args []any, add func(id string, state []byte, key int64) bool) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var state []byte
		var key int64
		if err := rows.Scan(&id, &state, &key); err != nil {
			return err
		}
		if !add(id, state, key) {
			break
		}
	}
	return rows.Err()
}
