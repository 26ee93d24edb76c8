package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// logHead is the highest log position committed: the newest changeset's
// seq, or where compaction left the log (compacted) if that is further on,
// since a compacted log still reached it.
func logHead(ctx context.Context, tx *Tx) (head, compacted int64, err error) {
	p, err := readPositions(ctx, tx, 0)
	return p.now, p.compacted, err
}

// positions are what a pull reads before its page, in one statement.
type positions struct {
	now, compacted int64  // logHead's
	gen            string // the history generation ("" if none was made yet)
	// rebases: records were re-placed after the cursor (text_rebases), so
	// the page must send them (pullRebases); most pulls follow none.
	rebases bool
	// textPass is the text compaction passes' counter (textcompact.go).
	textPass int64
}

// positionsSQL asks whether anything was re-placed after the cursor as
// "is the newest re-placement after it": EXISTS (... WHERE seq > $3),
// planned generically over an empty text_rebases, scanned it whole.
// The last column is the text compaction passes' counter (meta $4).
const positionsSQL = `SELECT COALESCE((SELECT MAX(seq) FROM changesets), 0),
	(SELECT value FROM meta WHERE key = $1), (SELECT value FROM meta WHERE key = $2),
	COALESCE((SELECT MAX(seq) FROM text_rebases), 0) > $3,
	COALESCE((SELECT value::bigint FROM meta WHERE key = $4), 0)`

// readPositions reads the pull's positions for a device whose cursor is at
// after.
func readPositions(ctx context.Context, tx *Tx, after int64) (positions, error) {
	var p positions
	var compacted, gen *string
	err := tx.QueryRow(ctx, positionsSQL, metaCompactedThrough, metaGeneration, after, metaTextCompacted).Scan(&p.now, &compacted, &gen, &p.rebases, &p.textPass)
	if err != nil {
		return p, fmt.Errorf("read positions: %w", err)
	}
	if compacted != nil {
		if p.compacted, err = strconv.ParseInt(*compacted, 10, 64); err != nil {
			return p, fmt.Errorf("meta %s: %w", metaCompactedThrough, err)
		}
	}
	if gen != nil {
		p.gen = *gen
	}
	p.now = max(p.now, p.compacted)
	return p, nil
}

// pull fills res with the device's next page, as server/sqlite's pull does:
// a snapshot of the scope for a new, reset or moved device, else the log
// after its cursor. The log is read only up to now, the highest seq
// committed when the page started; seqs are drawn in commit order
// (seqLock), so nothing at or below now can still appear later.
func pull(ctx context.Context, tx *Tx, req domain.SyncRequest, scope domain.Scope, res *domain.SyncResult) error {
	budget := req.PageBytes
	if budget <= 0 {
		budget = domain.DefaultPageBytes
	}
	cur, ok, err := domain.ParseCursor(req.Cursor)
	if err != nil {
		return err
	}
	// A cursor the checks below replace starts from nothing or is reset,
	// and then no rebase is sent: the parsed one is the one to ask about.
	pos, err := readPositions(ctx, tx, cur.Seq)
	if err != nil {
		return err
	}
	now, done, gen := pos.now, pos.compacted, pos.gen
	if gen == "" {
		if gen, err = txGeneration(ctx, tx); err != nil {
			return err
		}
	}
	tag := scope.Tag()
	fresh := domain.Cursor{Gen: gen, Tag: tag, Snapshot: true}
	switch {
	case !ok:
		cur = fresh
	case cur.Gen != gen:
		return domain.Errorf(domain.ECURSORAHEAD, "pull", "this server's history was restored from a backup since this device last synced: send your recent changes again and start from a snapshot")
	case cur.Tag != tag:
		res.Reset = true
		cur = fresh
	case cur.Seq > now:
		return domain.Errorf(domain.ECURSORAHEAD, "pull", "this device has seen more than the server holds (was the server restored from a backup?): send your recent changes again and start from a snapshot")
	}
	if cur.Seq > 0 && cur.Seq < done {
		res.Reset = true
		cur = fresh
	}
	if cur.Snapshot && cur.Seq == 0 && cur.Base == 0 && cur.After == "" && fieldSubset(scope) {
		// A snapshot of the whole scope starts: the field subset if the
		// device asked for it (see server/sqlite's pull).
		cur.Since = domain.FieldSince(tx.now, req.FieldWeeks)
	}
	// Text compaction passes: see server/sqlite's pull.
	seenPass := cur.Compacted
	if !cur.Snapshot || cur.Base > 0 || cur.After == "" {
		cur.Compacted = pos.textPass
	}
	if cur.Snapshot && cur.Base == 0 {
		seenPass = cur.Compacted
	}
	if err := pullDirectory(ctx, tx, req.DirectoryVersion, res); err != nil {
		return err
	}
	if err := pullRoster(ctx, tx, scope, req.RosterVersion, res); err != nil {
		return err
	}
	if !cur.Snapshot {
		entered, err := scopeMoves(ctx, tx, scope, cur.Seq, now, res)
		if err != nil {
			return err
		}
		if entered || scope.Practitioner() {
			cur = domain.Cursor{Gen: gen, Tag: tag, Snapshot: true, Seq: cur.Seq, Base: cur.Seq, Compacted: cur.Compacted}
		}
	} else if cur.Seq > 0 {
		if _, err := scopeMoves(ctx, tx, scope, cur.Seq, now, res); err != nil {
			return err
		}
	}
	if cur.Snapshot {
		if err := pullSnapshot(ctx, tx, scope, cur, now, budget, res); err != nil {
			return err
		}
		if cur.Base == 0 {
			return nil // a snapshot of the whole scope: the phone holds nothing older
		}
		if err := pullRebases(ctx, tx, scope, pos.rebases, cur.Seq, now, true, res); err != nil {
			return err
		}
		return pullCompacted(ctx, tx, scope, seenPass, cur.Compacted, true, budget, res)
	}
	filter, farg := scopeFilter(scope, 4)
	rows, err := tx.Query(ctx, logPageSQL(filter), cur.Seq, now, req.Device.ReplicaID, farg)
	if err != nil {
		return err
	}
	defer rows.Close()
	size := 0
	last := cur.Seq
	for rows.Next() {
		var seq, total int64
		var body []byte
		var mine string
		if err := rows.Scan(&seq, &body, &total, &mine); err != nil {
			return err
		}
		ids := strings.Fields(mine)
		if int64(len(ids)) < total {
			if body, err = restrictBody(body, ids); err != nil {
				return fmt.Errorf("stored changeset %d: %w", seq, err)
			}
		}
		if len(res.Changesets) > 0 && size+len(body) > budget {
			res.More = true
			break
		}
		res.Changesets = append(res.Changesets, body)
		size += len(body)
		res.SentRecords = append(res.SentRecords, ids...)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !res.More {
		last = now
	}
	res.Progress = &protocol.Progress{Phase: "changes", Done: last - cur.Seq, Total: now - cur.Seq}
	res.Cursor = domain.Cursor{Gen: gen, Tag: tag, Seq: last, Compacted: cur.Compacted}.String()
	rows.Close() // a page that stopped at its budget left it open
	if err := pullRebases(ctx, tx, scope, pos.rebases, cur.Seq, last, false, res); err != nil {
		return err
	}
	return pullCompacted(ctx, tx, scope, seenPass, cur.Compacted, false, budget, res)
}

// fieldSubset reports whether a whole-scope snapshot may be the field
// subset: a team's phone, not a service's or an admin's.
func fieldSubset(scope domain.Scope) bool {
	return !scope.All && !scope.Practitioner() && len(scope.Teams) > 0
}

// pullDirectory adds the service directory to res when the device's copy
// (version have) is not the current one.
func pullDirectory(ctx context.Context, tx *Tx, have string, res *domain.SyncResult) error {
	var v int64
	if err := tx.QueryRow(ctx, `SELECT version FROM directory_version WHERE one = 1`).Scan(&v); err != nil {
		return fmt.Errorf("directory version: %w", err)
	}
	version := strconv.FormatInt(v, 10)
	if version == have {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT `+serviceCols+` FROM services ORDER BY name, id`)
	svcs, err := collect(rows, err, func(r pgx.Rows) (domain.Service, error) { return scanService(r) })
	if err != nil {
		return err
	}
	res.Directory = domain.DirectoryFor(version, svcs)
	return nil
}

// pullRoster adds the device's teams' roster to res when the device's copy
// (version have) is not the current one; an idle sync reads one row. The
// teams are the device's scope, never anything the request names (see
// server/sqlite's pullRoster).
func pullRoster(ctx context.Context, tx *Tx, scope domain.Scope, have string, res *domain.SyncResult) error {
	var counter int64
	if err := tx.QueryRow(ctx, `SELECT version FROM roster_version WHERE one = 1`).Scan(&counter); err != nil {
		return fmt.Errorf("roster version: %w", err)
	}
	version := domain.RosterVersion(counter, scope)
	if version == have {
		return nil
	}
	var people []protocol.RosterPerson
	if domain.RosterScope(scope) {
		rows, err := tx.Query(ctx, `SELECT id, name FROM (
				SELECT id, name FROM people
				WHERE team_id = ANY($1) AND deactivated IS NULL AND role IN ('worker', 'supervisor')
				UNION
				SELECT p.id, p.name FROM team_supervisors s JOIN people p ON p.id = s.person_id
				WHERE s.team_id = ANY($1) AND p.deactivated IS NULL AND p.role = 'supervisor'
			) roster ORDER BY name COLLATE "C", id COLLATE "C"`, scope.Teams)
		people, err = collect(rows, err, func(r pgx.Rows) (protocol.RosterPerson, error) {
			var p protocol.RosterPerson
			return p, r.Scan(&p.ID, &p.Name)
		})
		if err != nil {
			return fmt.Errorf("roster: %w", err)
		}
	}
	res.Roster = domain.RosterFor(version, people)
	return nil
}

// restrictBody re-encodes a changeset with only the ops on ids.
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

// scopeMovesSQL reads each moved record by its key (a LATERAL subquery
// with OFFSET 0 is never flattened): as a join, planned over an empty
// records table, it scanned every record for each pull past a move.
const scopeMovesSQL = `SELECT DISTINCT e.record_id, r.type, COALESCE(r.team_id, ''), COALESCE(r.service_id, '')
	FROM scope_events e CROSS JOIN LATERAL (SELECT r.type, r.team_id, r.service_id FROM records r WHERE r.id = e.record_id OFFSET 0) r
	WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.record_id`

// scopeMoves adds to res.Drop the records that left the scope in (from, to]
// and reports whether any entered it.
func scopeMoves(ctx context.Context, tx *Tx, scope domain.Scope, from, to int64, res *domain.SyncResult) (entered bool, err error) {
	type move struct{ id, typ, team, svc string }
	rows, err := tx.Query(ctx, scopeMovesSQL, from, to)
	moves, err := collect(rows, err, func(r pgx.Rows) (m move, err error) { return m, r.Scan(&m.id, &m.typ, &m.team, &m.svc) })
	if err != nil {
		return false, err
	}
	for _, m := range moves {
		if scope.Contains(m.typ, m.team, m.svc) {
			entered = true
		} else if !slices.Contains(res.Drop, m.id) {
			res.Drop = append(res.Drop, m.id)
		}
	}
	return entered, nil
}

// pullSnapshot sends the scope's records in id order, a page at a time; see
// server/sqlite's pullSnapshot for how base and after make pages resumable.
func pullSnapshot(ctx context.Context, tx *Tx, scope domain.Scope, cur domain.Cursor, now int64, budget int, res *domain.SyncResult) error {
	prev := cur.Seq
	if cur.After == "" {
		prev = cur.Base
	}
	filter, farg := scopeFilter(scope, 5)
	type row struct {
		id, yp string
		state  []byte
	}
	rows, err := tx.Query(ctx, snapshotSQL(filter), cur.After, cur.Base, prev, now, farg, cur.Since)
	if err != nil {
		return err
	}
	var page []row
	size, fresh := 0, int64(0) // fresh: records after the last page's (not re-sent)
	after := cur.After
	more := false
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.state, &r.yp); err != nil {
			rows.Close()
			return err
		}
		churn := cur.After != "" && r.id <= cur.After
		if !churn && len(page) > 0 && size+len(r.state) > budget {
			more = true
			break
		}
		page = append(page, r)
		size += len(r.state)
		if !churn {
			after = r.id
			fresh++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range page {
		state := r.state
		if scope.Practitioner() {
			rec, err := syncengine.DecodeRecord(r.state)
			if err != nil {
				return fmt.Errorf("stored record %s: %w", r.id, err)
			}
			fields := scope.Projection()
			p := rec.Project(fields)
			if r.yp != "" && (slices.Contains(fields, "known_as") || slices.Contains(fields, "age_band")) {
				if err := projectYoungPerson(ctx, tx, p, r.yp, fields); err != nil {
					return err
				}
			}
			state = syncengine.EncodeRecord(p)
		}
		res.Snapshots = append(res.Snapshots, state)
		res.SentRecords = append(res.SentRecords, r.id)
	}
	if cur.Since > 0 {
		res.Partial, res.FieldSince = true, cur.Since
		if !more {
			res.FieldSeq = now
		}
	}
	if cur.Base == 0 && fieldSubset(scope) {
		if cur.After == "" {
			// Counted once, from the index, when the snapshot starts.
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM records r
				WHERE r.team_id = ANY($1::text[]) AND (r.field_at >= $2 OR r.field_at IS NULL)`, scope.Teams, cur.Since).Scan(&cur.Total); err != nil {
				return err
			}
		}
		cur.Done += fresh
		cur.Total = max(cur.Total, cur.Done) // records added while it pages
		res.Progress = &protocol.Progress{Phase: "snapshot", Done: cur.Done, Total: cur.Total}
		if !more {
			res.Progress.Done = res.Progress.Total
		}
	}
	if more {
		res.More = true
		res.Cursor = domain.Cursor{Gen: cur.Gen, Tag: cur.Tag, Seq: now, Snapshot: true, Base: cur.Base, After: after, Since: cur.Since, Compacted: cur.Compacted,
			Done: cur.Done, Total: cur.Total}.String()
	} else {
		res.Cursor = domain.Cursor{Gen: cur.Gen, Tag: cur.Tag, Seq: now, Compacted: cur.Compacted}.String()
	}
	return nil
}

// projectYoungPerson copies the young person's agreed identifying fields
// onto a practitioner's projected referral.
func projectYoungPerson(ctx context.Context, tx *Tx, p *syncengine.Record, ypID string, fields []string) error {
	var state []byte
	err := tx.QueryRow(ctx, `SELECT state FROM records WHERE id = $1`, ypID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	yp, err := syncengine.DecodeRecord(state)
	if err != nil {
		return fmt.Errorf("stored record %s: %w", ypID, err)
	}
	for _, f := range []string{"known_as", "age_band"} {
		if slices.Contains(fields, f) && yp.Fields[f] != nil {
			p.Fields[f] = yp.Fields[f]
		}
	}
	return nil
}

// cursorSeq is how far a device's cursor has read the log (for compaction).
func cursorSeq(s string) int64 {
	c, ok, err := domain.ParseCursor(s)
	if !ok || err != nil {
		return 0
	}
	if c.Snapshot {
		return c.Base
	}
	return c.Seq
}

// logPageSQL is the log page query for a scope filter on r (argument $4):
// $1 the cursor, $2 now, $3 the device's replica (its own changesets are
// not sent back). Guarded by TestPullQueriesUseIndexes.
func logPageSQL(filter string) string {
	return `SELECT c.seq, c.body,
		  (SELECT COUNT(*) FROM changeset_records cr WHERE cr.seq = c.seq) AS total,
		  m.mine
		FROM changesets c
		JOIN LATERAL (SELECT string_agg(cr.record_id, ' ') AS mine FROM changeset_records cr JOIN records r ON r.id = cr.record_id
		    WHERE cr.seq = c.seq AND ` + filter + `) m ON m.mine IS NOT NULL
		WHERE c.seq > $1 AND c.seq <= $2 AND c.replica_id <> $3
		ORDER BY c.seq`
}

// snapshotSQL is the snapshot page query for a scope filter on r ($5):
// $1 after, $2 base, $3 the previous page's position, $4 now, $6 the field
// subset's cutoff (0: the whole scope). Records of earlier pages that
// changed are re-sent whatever their field_at: the phone holds them.
func snapshotSQL(filter string) string {
	return `SELECT r.id, r.state, COALESCE(r.young_person_id, '') FROM records r
		WHERE ((r.id > $1 AND r.updated_seq > $2) OR (r.id <= $1 AND r.updated_seq > $3)) AND r.updated_seq <= $4 AND ` + filter + `
		  AND ($6::bigint = 0 OR r.field_at >= $6 OR r.field_at IS NULL OR r.id <= $1)
		ORDER BY r.id`
}
