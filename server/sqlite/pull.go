package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
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
	cur, ok, err := parseCursor(req.Cursor)
	if err != nil {
		return err
	}
	pos, err := readPositions(ctx, tx, cur.seq, req.Device.ID)
	if err != nil {
		return err
	}
	now, gen, compacted := pos.now, pos.gen, pos.compacted
	if !pos.unpurged {
		// Nothing between here and syncPurges can tell the device to
		// purge anything: it need not look again (see Tx.noPurgesFor).
		tx.noPurgesFor = req.Device.ID
	}
	// Compaction may have deleted the whole log: the position it reached
	// still stands, or every phone would be told the server lost history.
	if compacted > now {
		now = compacted
	}
	tag := scope.Tag()
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
		if cur.seq < compacted {
			res.Reset = true
			cur = cursor{gen: gen, tag: tag, snapshot: true}
		}
	}
	if cur.snapshot && cur.seq == 0 && cur.base == 0 && cur.after == "" && fieldSubset(scope) {
		// A snapshot of the whole scope starts: the field subset if the
		// device asked for it (a phone from before it never does).
		cur.since = domain.FieldSince(tx.now, req.FieldWeeks)
	}
	// Text compaction passes (textcompact.go): a snapshot of the whole scope
	// sends every record as it is now, so it starts at the current pass and
	// keeps it while it pages; any other page sends the records compacted
	// after the cursor's pass (pullCompacted).
	seenPass := cur.compacted
	if !cur.snapshot || cur.base > 0 || cur.after == "" {
		cur.compacted = pos.textPass
	}
	if cur.snapshot && cur.base == 0 {
		seenPass = cur.compacted
	}
	if err := pullDirectory(ctx, tx, pos.directory, req.DirectoryVersion, res); err != nil {
		return err
	}
	if err := pullRoster(ctx, tx, scope, pos.roster, req.RosterVersion, res); err != nil {
		return err
	}
	filter, fargs := scopeFilter(scope)
	// rewritten adds the records whose text a late edit re-placed in
	// (cursor, to], or a compaction pass rewrote since the cursor's pass
	// (textcompact.go), to the page, whichever way it ends.
	rewritten := func(to int64, snapshotPage bool) error {
		if err := pullRebasesSince(ctx, tx, pos, scope, filter, fargs, cur.seq, to, snapshotPage, res); err != nil {
			return err
		}
		return pullCompacted(ctx, tx, scope, filter, fargs, seenPass, cur.compacted, snapshotPage, budget, res)
	}
	if !cur.snapshot {
		// Records that left or entered the scope since the cursor.
		entered := false
		if pos.moves {
			if entered, err = scopeMoves(ctx, tx, scope, cur.seq, now, res); err != nil {
				return err
			}
		}
		if entered || scope.Practitioner() {
			cur = cursor{gen: gen, tag: tag, snapshot: true, seq: cur.seq, base: cur.seq, compacted: cur.compacted}
		}
	} else if cur.seq > 0 && pos.moves {
		if _, err := scopeMoves(ctx, tx, scope, cur.seq, now, res); err != nil {
			return err
		}
	}
	if cur.snapshot {
		if err := pullSnapshot(ctx, tx, scope, cur, now, budget, filter, fargs, res); err != nil {
			return err
		}
		if cur.base == 0 {
			return nil // a snapshot of the whole scope: the phone holds nothing older
		}
		return rewritten(now, true)
	}
	last, damaged, err := pullChanges(ctx, tx, req, scope, cur.seq, pos, now, budget, filter, fargs, res)
	if err != nil {
		return err
	}
	if damaged > 0 {
		// The history has a hole the device must not step over: it is sent
		// the records changed since its cursor whole instead (they hold every
		// change, the damaged one's too), as when records enter its scope.
		tx.db.markDamaged("changeset", fmt.Sprint(damaged))
		res.Changesets, res.More = nil, false
		cur = cursor{gen: gen, tag: tag, snapshot: true, seq: cur.seq, base: cur.seq, compacted: cur.compacted}
		if err := pullSnapshot(ctx, tx, scope, cur, now, budget, filter, fargs, res); err != nil {
			return err
		}
		return rewritten(now, true)
	}
	if !res.More {
		last = now
	}
	res.Progress = &protocol.Progress{Phase: "changes", Done: last - cur.seq, Total: now - cur.seq}
	res.Cursor = cursor{gen: gen, tag: tag, seq: last, compacted: cur.compacted}.String()
	return rewritten(last, false)
}

// pullRebasesSince sends the records a late text edit re-placed in
// (from, to] (textcompact.go), when any was since the cursor: a device
// starting from nothing (from 0) receives every record whole anyway.
func pullRebasesSince(ctx context.Context, tx *Tx, pos positions, scope domain.Scope, filter string, fargs []any, from, to int64, snapshotPage bool, res *domain.SyncResult) error {
	if !pos.rebases || from == 0 || res.Reset {
		return nil
	}
	return pullRebases(ctx, tx, scope, filter, fargs, from, to, snapshotPage, res)
}

// pullChanges adds to res the changesets after the cursor (after) that
// touch records in the scope, up to the page budget, and returns the
// position of the last one sent. damaged > 0 is a stored changeset that
// failed its checksum: nothing from the log may be sent past it.
//
// Each changeset comes with the records it touches that are in scope and
// how many it touches in all: one that also touches records outside the
// scope (a supervisor of two teams, the server replica) is sent restricted
// to the device's records, never whole. A one-team scope takes what its
// team's feed holds (pullfeed.go) from memory and reads from the log only
// what is newer, every author's, and leaves that for the feed.
func pullChanges(ctx context.Context, tx *Tx, req domain.SyncRequest, scope domain.Scope, after int64, pos positions, now int64,
	budget int, filter string, fargs []any, res *domain.SyncResult) (last, damaged int64, err error) {
	pg := changesPage{budget: budget, own: req.Device.ReplicaID, after: after, last: after, res: res}
	team := feedTeam(scope, pos)
	from := after
	if team != "" {
		if v, ok := tx.db.feeds.view(team, pos.gen, pos.logVersion, after); ok && v.high <= now {
			pg.hint = len(v.rows) + 4 // and a few newer ones, usually
			for _, r := range v.rows {
				if !pg.add(r) {
					return pg.last, 0, nil
				}
			}
			from = v.high
		}
	}
	if from >= now {
		return pg.last, 0, nil
	}
	fill, replica := team != "", req.Device.ReplicaID
	if fill {
		replica = "" // every author's, for the feed
	}
	rows, err := tx.QueryContext(ctx, incrementalPullSQL(filter), incrementalPullArgs(fargs, from, replica)...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var read []feedRow
	to := now
	for rows.Next() {
		var r feedRow
		var crc sql.NullInt64
		var total int
		var mine string
		if err := rows.Scan(&r.seq, &r.body, &crc, &total, &mine, &r.replica); err != nil {
			return 0, 0, err
		}
		// A changeset read only for the feed (the device's own, or one it
		// already has) never sends the device to a snapshot: the feed just
		// does not take this read.
		forFeed := r.replica == pg.own || r.seq <= after
		if !sound(r.body, crc) {
			if forFeed {
				fill = false
				continue
			}
			return pg.last, r.seq, nil
		}
		if r.mine = strings.Fields(mine); len(r.mine) < total {
			if r.body, err = restrictBody(r.body, r.mine); err != nil {
				if forFeed {
					fill = false
					continue
				}
				return pg.last, r.seq, nil
			}
		}
		read = append(read, r)
		if !pg.add(r) {
			to = r.seq
			break
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if fill {
		tx.kept.fills = append(tx.kept.fills, feedFill{team: team, gen: pos.gen, version: pos.logVersion, from: from, to: to, rows: read})
	}
	return pg.last, 0, nil
}

// feedTeam is the team whose feed serves scope's pulls: one team's phones
// (workers, a supervisor of one team). Other scopes read the log.
func feedTeam(scope domain.Scope, pos positions) string {
	if scope.All || scope.Practitioner() || len(scope.Teams) != 1 || pos.logVersion == "" {
		return ""
	}
	return scope.Teams[0]
}

// changesPage is an incremental pull's page as it fills.
type changesPage struct {
	budget, size int
	own          string // the device's replica: its own changesets are not sent back
	after, last  int64
	res          *domain.SyncResult
	hint         int // how many changesets the page may hold (allocation only)
}

// add sends r if it is for the device and fits, and reports false once the
// page is full (res.More).
func (p *changesPage) add(r feedRow) bool {
	if r.seq <= p.after || r.replica == p.own {
		return true
	}
	if len(p.res.Changesets) > 0 && p.size+len(r.body) > p.budget {
		p.res.More = true
		return false
	}
	if p.res.Changesets == nil && p.hint > 0 {
		p.res.Changesets = make([][]byte, 0, p.hint)
		p.res.SentRecords = append(make([]string, 0, len(p.res.SentRecords)+p.hint*len(r.mine)), p.res.SentRecords...)
	}
	p.res.Changesets = append(p.res.Changesets, r.body)
	p.size += len(r.body)
	p.res.SentRecords = append(p.res.SentRecords, r.mine...)
	p.last = r.seq
	return true
}

// fieldSubset reports whether a whole-scope snapshot for scope may be the
// field subset: a team's phone (workers, supervisors). Practitioners
// receive their few referrals whole; an admin's device, everything.
func fieldSubset(scope domain.Scope) bool {
	return !scope.All && !scope.Practitioner() && len(scope.Teams) > 0
}

// positions is where the store stands, as a pull needs it: read in one
// statement, since every sync pulls and each statement costs as much as the
// little work these do.
type positions struct {
	now       int64  // the highest log position
	compacted int64  // the position compaction reached (compact.go)
	gen       string // the history generation (generation.go)
	directory int64  // the service directory's version
	moves     bool   // scope events after the cursor exist (see scopeMoves)
	unpurged  bool   // the device has purge notices it has not confirmed (syncPurges)
	rebases   bool   // records were re-placed after the cursor (textcompact.go)
	textPass  int64  // the text compaction passes' counter (textcompact.go)
	// logVersion is the log_version migration's counter: the team feeds
	// (pullfeed.go) read at another one are not used.
	logVersion string
	roster     int64 // the rosters' version (migration 0205)
}

func readPositions(ctx context.Context, tx *Tx, after int64, device string) (positions, error) {
	var p positions
	var gen sql.NullString
	var compacted string
	err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT MAX(seq) FROM changesets), 0),
			COALESCE((SELECT value FROM meta WHERE key = ?), '0'),
			(SELECT value FROM meta WHERE key = ?),
			(SELECT version FROM directory_version WHERE one = 1),
			EXISTS (SELECT 1 FROM scope_events WHERE seq > ?),
			EXISTS (SELECT 1 FROM purge_notices WHERE device_id = ? AND confirmed_at IS NULL),
			EXISTS (SELECT 1 FROM text_rebases WHERE seq > ?),
			COALESCE((SELECT value FROM meta WHERE key = 'log_version'), ''),
			(SELECT version FROM roster_version WHERE one = 1),
			CAST(COALESCE((SELECT value FROM meta WHERE key = ?), 0) AS INTEGER)`,
		metaCompactedThrough, metaGeneration, after, device, after, metaTextCompacted).Scan(&p.now, &compacted, &gen, &p.directory, &p.moves, &p.unpurged, &p.rebases,
		&p.logVersion, &p.roster, &p.textPass)
	if err != nil {
		return p, fmt.Errorf("read positions: %w", err)
	}
	if !gen.Valid {
		return p, fmt.Errorf("history generation missing")
	}
	p.gen = gen.String
	if p.compacted, err = strconv.ParseInt(compacted, 10, 64); err != nil {
		return p, fmt.Errorf("meta %s: %w", metaCompactedThrough, err)
	}
	return p, nil
}

// pullDirectory adds the service directory to res when the device's copy
// (version have) is not the current one (v).
func pullDirectory(ctx context.Context, tx *Tx, v int64, have string, res *domain.SyncResult) error {
	version := strconv.FormatInt(v, 10)
	if version == have {
		return nil
	}
	svcs, err := listServices(ctx, tx)
	if err != nil {
		return err
	}
	res.Directory = domain.DirectoryFor(version, svcs)
	return nil
}

// pullRoster adds the device's teams' roster to res when the device's copy
// (version have) is not the current one (counter, read with the pull's
// positions); an idle sync reads nothing more. The teams are the device's
// scope, read from its person, never from the request: a phone can only
// ever learn its own teams' people.
func pullRoster(ctx context.Context, tx *Tx, scope domain.Scope, counter int64, have string, res *domain.SyncResult) error {
	version := domain.RosterVersion(counter, scope)
	if version == have {
		return nil
	}
	var people []protocol.RosterPerson
	if domain.RosterScope(scope) {
		rows, err := tx.QueryContext(ctx, rosterSQL(len(scope.Teams)), rosterArgs(scope.Teams)...)
		if err != nil {
			return fmt.Errorf("roster: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p protocol.RosterPerson
			if err := rows.Scan(&p.ID, &p.Name); err != nil {
				return err
			}
			people = append(people, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	res.Roster = domain.RosterFor(version, people)
	return nil
}

// rosterSQL selects the active workers and supervisors of n teams and the
// supervisors who supervise them, by name: each half from its team index.
func rosterSQL(n int) string {
	in := "?" + strings.Repeat(",?", n-1)
	return `SELECT id, name FROM people
		WHERE team_id IN (` + in + `) AND deactivated IS NULL AND role IN ('worker', 'supervisor')
		UNION
		SELECT p.id, p.name FROM team_supervisors s JOIN people p ON p.id = s.person_id
		WHERE s.team_id IN (` + in + `) AND p.deactivated IS NULL AND p.role = 'supervisor'
		ORDER BY 2, 1`
}

func rosterArgs(teams []string) []any {
	args := make([]any, 0, 2*len(teams))
	for range 2 {
		for _, t := range teams {
			args = append(args, t)
		}
	}
	return args
}

// incrementalPullSQL selects the changesets after a cursor that touch records
// in the scope (filter), each with the ids of those records and how many
// records it touches in all. It starts from the scope's records changed since
// the cursor (records_team_changes: team, change position, id) and reaches
// their changesets by changeset_records' key, so its cost follows what the
// device receives, not what the rest of the organisation wrote meanwhile.
// A record's updated_seq is the position of the last changeset that touched
// it (commit writes both together), so no changeset is missed. CROSS JOIN
// fixes the join order: records first. The grouping already sorts by
// position; ordering the outer query by m.seq (not c.seq) lets the planner
// see that, instead of copying every changeset's body through a second sort.
// pull_plan_test.go holds it to that.
func incrementalPullSQL(filter string) string {
	return `SELECT c.seq, c.body, c.crc, (SELECT COUNT(*) FROM changeset_records t WHERE t.seq = c.seq) AS total, m.mine, c.replica_id
		FROM (SELECT cr.seq, group_concat(cr.record_id, ' ') AS mine
			FROM records r CROSS JOIN changeset_records cr
			WHERE ` + filter + ` AND r.updated_seq > ? AND cr.record_id = r.id AND cr.seq > ?
			GROUP BY cr.seq ORDER BY cr.seq) m
		CROSS JOIN changesets c
		WHERE c.seq = m.seq AND c.replica_id <> ?
		ORDER BY m.seq`
}

func incrementalPullArgs(fargs []any, after int64, replica string) []any {
	args := append([]any{}, fargs...)
	return append(args, after, after, replica)
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
	var page []snapRow
	size, fresh := 0, int64(0) // fresh: records after the last page's (not re-sent)
	after := cur.after
	more := false
	// Records of earlier pages changed since the previous page are re-sent
	// whatever the budget (see pull).
	if cur.after != "" {
		rows, err := tx.QueryContext(ctx, snapshotChurnSQL(filter), append(slices.Clone(fargs), prev, cur.after)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r snapRow
			if err := r.scan(rows); err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
			size += len(r.state)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(page, func(a, b snapRow) int { return strings.Compare(a.id, b.id) })
	}
	// Then the records after the last one sent, in id order, read from
	// index ranges that stop at the budget.
	var srcs []*snapSource
	defer func() {
		for _, src := range srcs {
			src.rows.Close()
		}
	}()
	for _, q := range snapshotPageQueries(scope, filter, fargs, cur.after, cur.base, cur.since) {
		rows, err := tx.QueryContext(ctx, q.sql, q.args...)
		if err != nil {
			return err
		}
		src := &snapSource{rows: rows}
		srcs = append(srcs, src)
		if err := src.next(); err != nil {
			return err
		}
	}
	for {
		var src *snapSource
		for _, s := range srcs {
			if s.ok && (src == nil || s.head.id < src.head.id) {
				src = s
			}
		}
		if src == nil {
			break
		}
		if len(page) > 0 && size+len(src.head.state) > budget {
			more = true
			break
		}
		page = append(page, src.head)
		size += len(src.head.state)
		after = src.head.id
		fresh++
		if err := src.next(); err != nil {
			return err
		}
	}
	for _, src := range srcs {
		src.rows.Close()
	}
	srcs = nil
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
	if cur.since > 0 {
		res.Partial, res.FieldSince = true, cur.since
		if !more {
			res.FieldSeq = now
		}
	}
	if cur.base == 0 && fieldSubset(scope) {
		if cur.after == "" {
			// Counted once, from the index, when the snapshot starts.
			total, err := snapshotTotal(ctx, tx, scope, cur.since)
			if err != nil {
				return err
			}
			cur.total = total
		}
		cur.done += fresh
		cur.total = max(cur.total, cur.done) // records added while it pages
		res.Progress = &protocol.Progress{Phase: "snapshot", Done: cur.done, Total: cur.total}
		if !more {
			res.Progress.Done = res.Progress.Total
		}
	}
	if more {
		res.More = true
		res.Cursor = cursor{gen: cur.gen, tag: cur.tag, seq: now, snapshot: true, base: cur.base, after: after, since: cur.since,
			done: cur.done, total: cur.total, compacted: cur.compacted}.String()
	} else {
		res.Cursor = cursor{gen: cur.gen, tag: cur.tag, seq: now, compacted: cur.compacted}.String()
	}
	return nil
}

// snapRow is one record read for a snapshot page.
type snapRow struct {
	id, yp string
	state  []byte
	crc    sql.NullInt64
}

const snapshotCols = `SELECT r.id, r.state, r.crc, COALESCE(r.young_person_id, '') FROM records r WHERE `

// subsetCols reads the field subset: the planner cannot know that
// field_at filters most of a team out, so it is told which index has it.
const subsetCols = `SELECT r.id, r.state, r.crc, COALESCE(r.young_person_id, '') FROM records r INDEXED BY records_team_field WHERE `

func (r *snapRow) scan(rows *sql.Rows) error { return rows.Scan(&r.id, &r.state, &r.crc, &r.yp) }

// snapSource is one id-ordered query of a snapshot page and its next row.
type snapSource struct {
	rows *sql.Rows
	head snapRow
	ok   bool
}

func (s *snapSource) next() error {
	if s.ok = s.rows.Next(); s.ok {
		return s.head.scan(s.rows)
	}
	return s.rows.Err()
}

type query struct {
	sql  string
	args []any
}

// snapshotChurnSQL selects the scope's records up to the last one sent that
// changed after the previous page (few: found by change position).
func snapshotChurnSQL(filter string) string {
	// The + keeps the planner off the id index (every earlier page's
	// records); the caller sorts the few rows instead.
	return snapshotCols + filter + ` AND r.updated_seq > ? AND +r.id <= ?`
}

// snapshotPageQueries are the id-ordered reads of a snapshot page after the
// record id after. A whole-scope snapshot (base 0) walks index ranges in id
// order, one per team (records_team_field), merged by the caller, so a page
// reads about what it sends and never sorts the team: a fresh phone's first
// sync costs the same per page however large its team. A snapshot of what
// changed since base reads those records by change position and sorts only
// them. pull_plan_test.go holds the plans.
func snapshotPageQueries(scope domain.Scope, filter string, fargs []any, after string, base, since int64) []query {
	if base == 0 && since > 0 && fieldSubset(scope) {
		// The field subset: the same id ranges, filtered on the index
		// (records_team_field) before a row is read.
		qs := make([]query, len(scope.Teams))
		for i, t := range scope.Teams {
			qs[i] = query{subsetCols + `r.team_id = ? AND r.id > ? AND (r.field_at >= ? OR r.field_at IS NULL) ORDER BY r.id`, []any{t, after, since}}
		}
		return qs
	}
	if base == 0 && fieldSubset(scope) {
		qs := make([]query, len(scope.Teams))
		for i, t := range scope.Teams {
			qs[i] = query{snapshotCols + `r.team_id = ? AND r.id > ? ORDER BY r.id`, []any{t, after}}
		}
		return qs
	}
	if base == 0 {
		// Every record is newer than 0: the unary + keeps the planner off
		// the change-position index, so the id order comes from the key.
		return []query{{snapshotCols + filter + ` AND r.id > ? AND +r.updated_seq > ? ORDER BY r.id`, append(slices.Clone(fargs), after, base)}}
	}
	// The + keeps the planner on the change-position index: the records
	// changed since base are few, the team's records after `after` many.
	return []query{{snapshotCols + filter + ` AND +r.id > ? AND r.updated_seq > ? ORDER BY r.id`, append(slices.Clone(fargs), after, base)}}
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

// subsetTotalSQL counts a team's records in a snapshot from cutoff $2 (0:
// all) from records_team_field alone (pull_plan_test.go).
const subsetTotalSQL = `SELECT COUNT(*) FROM records r INDEXED BY records_team_field
	WHERE r.team_id = ? AND (r.field_at >= ? OR r.field_at IS NULL)`

// snapshotTotal counts a whole-team snapshot's records (the field
// subset's when since > 0) from the index alone, for progress.
func snapshotTotal(ctx context.Context, tx *Tx, scope domain.Scope, since int64) (int64, error) {
	var total int64
	for _, t := range scope.Teams {
		var n int64
		if err := tx.QueryRowContext(ctx, subsetTotalSQL, t, since).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
