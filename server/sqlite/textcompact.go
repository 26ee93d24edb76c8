package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Text tombstone compaction (docs/architecture.md, "History compaction and
// tombstones"). A note revised for months keeps every deleted character's
// position, and every push to it compresses, checksums and writes them all.
// CompactText drops them from records no device can still need them for, in
// a maintenance pass beside CompactLog (hourly, server/cmd/joinedup), not
// after a sync: the test for "no device can still need them" reads every
// device that may write the record, compacting rewrites the record's whole
// state, and a note being typed into right now would only be compacted
// again an edit later.
//
// It keeps, per record, what it dropped (syncengine.TextCompaction, table
// text_compaction), because "every device has pulled the record's last
// change" cannot rule out a phone restored from a backup or a save typed
// while a pull was in flight. When such a changeset arrives, the push path
// (applyText) re-points its ops that name dropped text, and after a late
// insert records the record in text_rebases, so every phone holding it is
// sent the server's state to replace its own (pullRebases): several late
// inserts into one dead stretch may be placed differently by a phone that
// kept it. Nothing a phone saved is ever lost or refused for it.

// CompactText compacts the text of records at least minBytes large that
// changed since the pass last looked at them.
func (db *DB) CompactText(ctx context.Context, minBytes int, keep time.Duration) (domain.TextCompactResult, error) {
	var ids []string
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT r.id FROM records r LEFT JOIN text_compaction t ON t.record_id = r.id
			WHERE r.erased = 0 AND length(r.state) >= ? AND (t.record_id IS NULL OR t.at_seq < r.updated_seq) ORDER BY r.id`, minBytes)
		ids, err = collect(rows, err, func(rows *sql.Rows) (string, error) {
			var id string
			return id, rows.Scan(&id)
		})
		return err
	})
	if err != nil {
		return domain.TextCompactResult{}, err
	}
	// What every device has pulled is read from the device rows
	// (textWaitSQL): each batch first writes the bookkeeping syncs left
	// out (kept.go).
	update := func(fn func(*Tx) error) error {
		return db.update(ctx, func(tx *Tx) error {
			if err := writeLateDevices(ctx, tx); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	return domain.CompactTextPass(ids, update,
		func(tx *Tx, id string, res *domain.TextCompactResult) error {
			return compactRecordText(ctx, tx, id, keep, res)
		},
		func(e domain.AuditEntry) error { return db.AppendAudit(ctx, e) })
}

// textWaitSQL reports whether a record (updated_seq $1, team $2, service
// $3, id $4) may still receive an edit made before its current state, as
// far as the server can tell: an active device that may write it (its
// team's workers, the team's supervisors, the service's practitioners,
// admins) has not pulled its last change, or a held changeset waits on it.
// A device enrolled but never synced holds nothing older; one not seen
// since ?5 (the keep window; empty for none) is sent a snapshot when it
// returns, and its unsent saves are placed as late edits are, so a phone
// lost without being revoked does not hold its team's notes back for ever.
const textWaitSQL = `SELECT EXISTS (SELECT 1 FROM devices d JOIN people p ON p.id = d.person_id
		WHERE d.status = 'active' AND d.last_seen IS NOT NULL AND d.last_cursor < ?1 AND (?5 = '' OR d.last_seen >= ?5)
		AND (p.role = 'admin' OR (?2 <> '' AND p.team_id = ?2) OR (?3 <> '' AND p.service_id = ?3)
			OR (?2 <> '' AND EXISTS (SELECT 1 FROM team_supervisors s WHERE s.person_id = p.id AND s.team_id = ?2))))
	OR EXISTS (SELECT 1 FROM held_waits w JOIN quarantine q ON q.id = w.quarantine_id
		WHERE w.record_id IN (?4, '*') AND q.reviewed_at IS NULL)`

func compactRecordText(ctx context.Context, tx *Tx, id string, keep time.Duration, res *domain.TextCompactResult) error {
	var state []byte
	var crc sql.NullInt64
	var seq int64
	var team, service string
	var erased bool
	err := tx.QueryRowContext(ctx, `SELECT state, crc, updated_seq, COALESCE(team_id, ''), COALESCE(service_id, ''), erased FROM records WHERE id = ?`, id).
		Scan(&state, &crc, &seq, &team, &service, &erased)
	if errors.Is(err, sql.ErrNoRows) || erased || !sound(state, crc) {
		return nil // a damaged state is repaired by the push path, not here
	} else if err != nil {
		return err
	}
	res.Looked++
	var wait bool
	since := ""
	if keep > 0 {
		since = formatTime(tx.now.Add(-keep))
	}
	if err := tx.QueryRowContext(ctx, textWaitSQL, seq, team, service, id, since).Scan(&wait); err != nil {
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
	rec, err := tx.db.states.DecodeRecord(syncengine.RecordID(id), state)
	if err != nil {
		return nil // damaged: as above
	}
	// updated_seq stays: phones need nothing new to show the same text and
	// take later edits alike, so no pull re-sends it as a change. It is
	// given a pass instead, when that is worth a download
	// (domain.CompactedWorthSending), so each phone holding it is sent the
	// smaller state once (pullCompacted).
	b, vv, comp := domain.CompactRecordText(rec, len(state), prev, prevBytes, res)
	var pass, unsent int64
	if b != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ?, crc = ? WHERE id = ?`, b, checksum(b), id); err != nil {
			return err
		}
		tx.db.states.Put(rec.ID, b, rec)
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT unsent_bytes FROM text_compaction WHERE record_id = ?), 0)`, id).Scan(&unsent); err != nil {
			return err
		}
		var send bool
		if send, unsent = domain.CompactedWorthSending(int64(len(state)), int64(len(b)), unsent); send {
			if err := tx.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES (?, '1')
				ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)`, metaTextCompacted).Scan(&pass); err != nil {
				return fmt.Errorf("text compaction pass: %w", err)
			}
		}
	}
	// Unchanged (nothing dropped) keeps pass and unsent_bytes as they are.
	_, err = tx.ExecContext(ctx, `INSERT INTO text_compaction (record_id, vv, state, at_seq, compacted_at, pass, unsent_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (record_id) DO UPDATE SET vv = excluded.vv, state = excluded.state, at_seq = excluded.at_seq, compacted_at = excluded.compacted_at,
			pass = max(pass, excluded.pass), unsent_bytes = CASE WHEN ? THEN excluded.unsent_bytes ELSE unsent_bytes END`,
		id, vv, comp, seq, tx.NowText(), pass, unsent, b != nil)
	return err
}

// metaTextCompacted is the counter of records whose text a compaction pass
// rewrote (text_compaction.pass, migration 0250).
const metaTextCompacted = "text_compacted"

// textQueries are the text_compaction reads of tx (domain.TextCompactionQueries).
func textQueries(ctx context.Context, tx *Tx) domain.TextCompactionQueries {
	return domain.TextCompactionQueries{
		Any: func() (any bool, err error) {
			err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM text_compaction WHERE vv IS NOT NULL)`).Scan(&any)
			return any, err
		},
		Column: func(id, col string) (b []byte, err error) {
			err = tx.QueryRowContext(ctx, `SELECT `+col+` FROM text_compaction WHERE record_id = ?`, id).Scan(&b)
			if errors.Is(err, sql.ErrNoRows) {
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

// noteRebases records that the phones holding recs must be sent their
// state whole once they pull past seq.
func (a *applier) noteRebases(seq int64, recs []syncengine.RecordID) error {
	for _, id := range recs {
		if _, err := a.tx.ExecContext(a.ctx, `INSERT OR IGNORE INTO text_rebases (seq, record_id) VALUES (?, ?)`, seq, string(id)); err != nil {
			return err
		}
	}
	return nil
}

// forgetTextCompaction drops erased records' compaction state: ids only,
// but an erasure leaves nothing of a record it need not.
func forgetTextCompaction(ctx context.Context, tx *Tx, ids []string) error {
	for _, q := range []string{`DELETE FROM text_compaction WHERE record_id = ?`, `DELETE FROM text_rebases WHERE record_id = ?`} {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// rebasePullSQL reads the records in the scope (filter) re-placed in
// (from, to]: by the log position range of text_rebases' key, then each
// record by its own (textcompact_test.go holds the plan).
func rebasePullSQL(filter string) string {
	return `SELECT r.id, r.state, r.crc, 0 FROM records r
		WHERE r.id IN (SELECT b.record_id FROM text_rebases b WHERE b.seq > ? AND b.seq <= ?) AND ` + filter + ` ORDER BY r.id`
}

// pullRebases adds to res the state of every record in the scope (filter)
// a late insert re-placed in (from, to], marked to replace the phone's copy
// (res.Rebase). A record a snapshot page already carries whole is only
// marked (domain.AddRebase). Practitioners receive projections, rebuilt on every snapshot page anyway:
// only records of their page are marked. A damaged state is named in
// Damaged by the snapshot path and sent once repaired.
func pullRebases(ctx context.Context, tx *Tx, scope domain.Scope, filter string, fargs []any, from, to int64, snapshotPage bool, res *domain.SyncResult) error {
	return pullStates(ctx, tx, rebasePullSQL(filter), append([]any{from, to}, fargs...), func(id string, state []byte, _ int64) bool {
		domain.AddRebase(res, scope, snapshotPage, id, state)
		return true
	})
}

// pullStates hands add each sound record state query reads (id, state,
// crc, a key of add's), until add reports false.
func pullStates(ctx context.Context, tx *Tx, query string, args []any, add func(id string, state []byte, key int64) bool) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var state []byte
		var crc sql.NullInt64
		var key int64
		if err := rows.Scan(&id, &state, &crc, &key); err != nil {
			return err
		}
		if sound(state, crc) && !add(id, state, key) {
			break
		}
	}
	return rows.Err()
}

// compactedPullSQL reads the records in the scope (filter) whose text a
// compaction pass rewrote in (from, to], in pass order: text_compaction by
// its partial pass index ("pass > 0" lets the planner use it), then each
// record by its key (textcompact_test.go holds the plan).
func compactedPullSQL(filter string) string {
	return `SELECT r.id, r.state, r.crc, t.pass FROM text_compaction t CROSS JOIN records r
		WHERE t.pass > 0 AND t.pass > ? AND t.pass <= ? AND r.id = t.record_id AND r.erased = 0 AND ` + filter + ` ORDER BY t.pass`
}

// pullCompacted adds to res, within the page's budget, the state of every
// record in the scope (filter) whose text a compaction pass rewrote in
// passes (from, to], for a phone holding it to take
// (domain.CompactedPage). A record erased, or moved out of the scope, since
// is not sent: the filter is the scope's. A damaged state is not sent: the
// phone keeps its copy, nothing is lost.
func pullCompacted(ctx context.Context, tx *Tx, scope domain.Scope, filter string, fargs []any, from, to int64, snapshotPage bool, budget int, res *domain.SyncResult) error {
	if from >= to || res.Reset || scope.Practitioner() {
		return nil
	}
	page := domain.NewCompactedPage(res, scope, snapshotPage, budget, from)
	if err := pullStates(ctx, tx, compactedPullSQL(filter), append([]any{from, to}, fargs...), page.Add); err != nil {
		return err
	}
	return page.Finish()
}
