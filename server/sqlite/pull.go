package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// pull fills res with the next page for the device.
//
// Between pulls the device receives changesets (history) for its scope. A new
// device, a device whose scope changed, a device to which records became
// visible, and every practitioner device receive record snapshots instead.
// Snapshot pages are read at successive log positions; each page also re-sends
// the records of earlier pages that changed meanwhile, so when the last page
// is sent every record the device holds is at that page's position, and the
// changesets that follow are all newer than any snapshot (the engine treats a
// changeset as a duplicate if any record it touches already covers it).
func pull(ctx context.Context, tx *Tx, req domain.SyncRequest, scope domain.Scope, res *domain.SyncResult) error {
	budget := req.PageBytes
	if budget <= 0 {
		budget = domain.DefaultPageBytes
	}
	var now int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&now); err != nil {
		return err
	}
	// Compaction may have deleted the whole log: the position it reached
	// still stands, or every phone would be told the server lost history.
	if done, err := compactedThrough(ctx, tx); err != nil {
		return err
	} else if done > now {
		now = done
	}
	tag := scope.Tag()
	gen, err := generation(ctx, tx)
	if err != nil {
		return err
	}
	cur, ok, err := parseCursor(req.Cursor)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		cur = cursor{gen: gen, tag: tag, snapshot: true}
	case cur.gen != gen:
		// The positions in the cursor belong to another history (the server
		// was restored from a backup, or the cursor predates generations):
		// whether or not the log has grown past them since, they name other
		// changesets now. The same answer as a cursor past the end, so
		// phones that know it already recover.
		return domain.Errorf(domain.ECURSORAHEAD, "pull", "this server's history was restored from a backup since this device last synced: send your recent changes again and start from a snapshot")
	case cur.tag != tag:
		// domain.Scope changed: start again from a full snapshot.
		res.Reset = true
		cur = cursor{gen: gen, tag: tag, snapshot: true}
	case cur.seq > now:
		return domain.Errorf(domain.ECURSORAHEAD, "pull", "this device has seen more than the server holds (was the server restored from a backup?): send your recent changes again and start from a snapshot")
	}
	if cur.seq > 0 {
		// History the device still needed was compacted away while it was
		// offline: it may also have missed scope events telling it to drop
		// records, so it starts again from a snapshot of its scope.
		done, err := compactedThrough(ctx, tx)
		if err != nil {
			return err
		}
		if cur.seq < done {
			res.Reset = true
			cur = cursor{gen: gen, tag: tag, snapshot: true}
		}
	}
	filter, fargs := scopeFilter(scope)
	if !cur.snapshot {
		// Records that left or entered the scope since the cursor.
		entered, err := scopeMoves(ctx, tx, scope, cur.seq, now, res)
		if err != nil {
			return err
		}
		if entered || scope.Practitioner() {
			cur = cursor{gen: gen, tag: tag, snapshot: true, seq: cur.seq, base: cur.seq}
		}
	} else if cur.seq > 0 {
		if _, err := scopeMoves(ctx, tx, scope, cur.seq, now, res); err != nil {
			return err
		}
	}
	if cur.snapshot {
		return pullSnapshot(ctx, tx, scope, cur, now, budget, filter, fargs, res)
	}
	// Each changeset comes with the records it touches that are in scope and
	// how many it touches in all: one that also touches records outside the
	// scope (a supervisor of two teams, the server replica) is sent restricted
	// to the device's records, never whole.
	args := append([]any{}, fargs...)
	args = append(args, cur.seq, req.Device.ReplicaID)
	rows, err := tx.QueryContext(ctx, `SELECT seq, body, crc, total, mine FROM (
		SELECT c.seq, c.body, c.crc,
		  (SELECT COUNT(*) FROM changeset_records cr WHERE cr.seq = c.seq) AS total,
		  (SELECT group_concat(cr.record_id, ' ') FROM changeset_records cr JOIN records r ON r.id = cr.record_id
		    WHERE cr.seq = c.seq AND `+filter+`) AS mine
		FROM changesets c WHERE c.seq > ? AND c.replica_id <> ?)
		WHERE mine IS NOT NULL ORDER BY seq`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	size := 0
	last := cur.seq
	damaged := int64(0)
	for rows.Next() {
		var seq int64
		var body []byte
		var crc sql.NullInt64
		var total int
		var mine string
		if err := rows.Scan(&seq, &body, &crc, &total, &mine); err != nil {
			return err
		}
		if !sound(body, crc) {
			damaged = seq
			break
		}
		if ids := strings.Fields(mine); len(ids) < total {
			if body, err = restrictBody(body, ids); err != nil {
				damaged = seq
				break
			}
		}
		if len(res.Changesets) > 0 && size+len(body) > budget {
			res.More = true
			break
		}
		res.Changesets = append(res.Changesets, body)
		size += len(body)
		res.SentRecords = append(res.SentRecords, strings.Fields(mine)...)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if damaged > 0 {
		// The history has a hole the device must not step over: it is sent
		// the records changed since its cursor whole instead (they hold every
		// change, the damaged one's too), as when records enter its scope.
		rows.Close()
		tx.db.markDamaged("changeset", fmt.Sprint(damaged))
		res.Changesets, res.More = nil, false
		cur = cursor{gen: gen, tag: tag, snapshot: true, seq: cur.seq, base: cur.seq}
		return pullSnapshot(ctx, tx, scope, cur, now, budget, filter, fargs, res)
	}
	if !res.More {
		last = now
	}
	res.Cursor = cursor{gen: gen, tag: tag, seq: last}.String()
	return nil
}

// restrictBody re-encodes a stored changeset limited to the records in ids
// (ops on the others become width-preserving placeholders, their deps go).
func restrictBody(body []byte, ids []string) ([]byte, error) {
	cs, err := syncengine.DecodeChangeset(body)
	if err != nil {
		return nil, err
	}
	keep := make(map[syncengine.RecordID]bool, len(ids))
	for _, id := range ids {
		keep[syncengine.RecordID(id)] = true
	}
	out, ok := syncengine.RestrictChangeset(cs, func(id syncengine.RecordID) bool { return keep[id] })
	if !ok {
		return nil, fmt.Errorf("no record in scope")
	}
	return syncengine.EncodeChangeset(out), nil
}

// scopeMoves adds to res.Drop the records that moved out of scope in
// (from, to] and reports whether any moved in. A drop names only records the
// device had: in its scope as of its cursor (where the first move after the
// cursor took the record from) and already stored then. Any other record
// leaving another team or service is none of the device's business, not
// even its id.
func scopeMoves(ctx context.Context, tx *Tx, scope domain.Scope, from, to int64, res *domain.SyncResult) (entered bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.record_id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, ''),
			COALESCE((SELECT e.from_team FROM scope_events e WHERE e.record_id = m.record_id AND e.seq > ? ORDER BY e.seq, e.id LIMIT 1), ''),
			COALESCE((SELECT MIN(cr.seq) FROM changeset_records cr WHERE cr.record_id = m.record_id), 0)
		FROM (SELECT DISTINCT record_id FROM scope_events WHERE seq > ? AND seq <= ?) m JOIN records r ON r.id = m.record_id
		ORDER BY m.record_id`, from, from, to)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ, team, svc, was string
		var born int64
		if err := rows.Scan(&id, &typ, &team, &svc, &was, &born); err != nil {
			return false, err
		}
		if scope.Contains(typ, team, svc) {
			entered = true
			continue
		}
		wasTeam, wasSvc := splitScopeKey(was)
		if born <= from && scope.Contains(typ, wasTeam, wasSvc) && !slices.Contains(res.Drop, id) {
			res.Drop = append(res.Drop, id)
		}
	}
	return entered, rows.Err()
}

// splitScopeKey is the inverse of scopeKey.
func splitScopeKey(k string) (team, service string) {
	if t, s, ok := strings.Cut(k, "|svc:"); ok {
		return t, s
	}
	if s, ok := strings.CutPrefix(k, "svc:"); ok {
		return "", s
	}
	return k, ""
}

func pullSnapshot(ctx context.Context, tx *Tx, scope domain.Scope, cur cursor, now int64, budget int, filter string, fargs []any, res *domain.SyncResult) error {
	prev := cur.seq // position of the previous page (or of the base)
	if cur.after == "" {
		prev = cur.base
	}
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, r.crc, COALESCE(r.young_person_id, '') FROM records r
		WHERE `+filter+` AND ((r.id > ? AND r.updated_seq > ?) OR (r.id <= ? AND r.updated_seq > ?))
		ORDER BY r.id`, append(fargs, cur.after, cur.base, cur.after, prev)...)
	if err != nil {
		return err
	}
	type row struct {
		id, yp string
		state  []byte
		crc    sql.NullInt64
	}
	var page []row
	size := 0
	after := cur.after
	more := false
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.state, &r.crc, &r.yp); err != nil {
			rows.Close()
			return err
		}
		churn := cur.after != "" && r.id <= cur.after
		if !churn && len(page) > 0 && size+len(r.state) > budget {
			more = true
			break
		}
		page = append(page, r)
		size += len(r.state)
		if !churn {
			after = r.id
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// A damaged record is rebuilt from the log where it can be; otherwise it
	// is left out and named in res.Damaged, and the rest of the scope is sent.
	sent := page[:0]
	for _, r := range page {
		if !sound(r.state, r.crc) {
			rec, err := loadRecord(ctx, tx, syncengine.RecordID(r.id), r.state, r.crc)
			if syncengine.ErrorCode(err) == domain.EMISSINGDEP {
				res.Damaged = append(res.Damaged, r.id)
				continue
			} else if err != nil {
				return err
			}
			r.state = syncengine.EncodeRecord(rec)
		}
		sent = append(sent, r)
	}
	page = sent
	if scope.Practitioner() {
		fields := scope.Projection()
		for _, r := range page {
			rec, err := syncengine.DecodeRecord(r.state)
			if err != nil {
				return fmt.Errorf("stored record %s: %w", r.id, err)
			}
			p := rec.Project(fields)
			if r.yp != "" && (slices.Contains(fields, "known_as") || slices.Contains(fields, "age_band")) {
				if err := projectYoungPerson(ctx, tx, p, r.yp, fields); err != nil {
					return err
				}
			}
			res.Snapshots = append(res.Snapshots, syncengine.EncodeRecord(p))
		}
	} else {
		for _, r := range page {
			res.Snapshots = append(res.Snapshots, r.state)
		}
	}
	for _, r := range page {
		res.SentRecords = append(res.SentRecords, r.id)
	}
	if more {
		res.More = true
		res.Cursor = cursor{gen: cur.gen, tag: cur.tag, seq: now, snapshot: true, base: cur.base, after: after}.String()
	} else {
		res.Cursor = cursor{gen: cur.gen, tag: cur.tag, seq: now}.String()
	}
	return nil
}

// projectYoungPerson copies the young person's agreed fields (known_as,
// age_band) into a projected referral, so a service sees who it is about
// without receiving the profile.
func projectYoungPerson(ctx context.Context, tx *Tx, p *syncengine.Record, ypID string, fields []string) error {
	var state []byte
	var crc sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT state, crc FROM records WHERE id = ?`, ypID).Scan(&state, &crc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	yp, err := syncengine.DecodeRecord(state)
	if err != nil || !sound(state, crc) {
		// The referral is still sent, without the profile's fields.
		tx.db.markDamaged("record", ypID)
		return nil
	}
	for _, f := range []string{"known_as", "age_band"} {
		if slices.Contains(fields, f) && yp.Fields[f] != nil {
			p.Fields[f] = yp.Fields[f]
		}
	}
	return nil
}
