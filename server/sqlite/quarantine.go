package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// quarantineCols are an item's columns without its body: lists never load
// bodies (a list of large refused bodies once took the server from 55 MB to
// 848 MB).
const quarantineCols = `id, device_id, person_id, replica_id, start, code, message, body IS NOT NULL, body_size, COALESCE(body_digest, x''),
	created, COALESCE(reviewed_by, ''), reviewed_at, COALESCE(resolution, '')`

func scanQuarantine(sc interface{ Scan(...any) error }) (domain.QuarantineItem, error) {
	var q domain.QuarantineItem
	var created string
	var digest []byte
	err := sc.Scan(&q.ID, &q.DeviceID, &q.PersonID, &q.ReplicaID, &q.Start, &q.Code, &q.Message, &q.BodyKept, &q.BodySize, &digest,
		&created, &q.ReviewedBy, nullTime{&q.ReviewedAt}, &q.Resolution)
	q.Created = parseTime(created)
	q.BodyDigest = hex.EncodeToString(digest)
	return q, err
}

// reviewerFilter is the WHERE fragment limiting items to the candidates a
// reviewer may decide (all for an admin): items pushed by people of their
// teams (members or supervisors), items whose records (or the records that
// file them, quarantine_refs) are filed under their teams now, and items
// that wrote into their teams when refused. It is a superset: which of
// them the reviewer may decide now is mayDiscard's (reviewerDecides). The
// refs are read from the item (CROSS JOIN fixes the order): driven from the
// records of the reviewer's teams instead, each item would read them all.
func reviewerFilter(s *domain.Scope) (string, []any) {
	switch {
	case s == nil || s.All:
		return "1", nil
	case s.Practitioner() || len(s.Teams) == 0:
		return "0", nil
	}
	in := `(?` + strings.Repeat(",?", len(s.Teams)-1) + `)`
	args := make([]any, 0, 4*len(s.Teams)) // three IN lists, then touches
	for range 3 {
		for _, t := range s.Teams {
			args = append(args, t)
		}
	}
	touches := make([]string, len(s.Teams))
	for i, t := range s.Teams {
		args = append(args, " "+t+" ")
		touches[i] = "instr(teams, ?) > 0"
	}
	return `(person_id IN (SELECT id FROM people WHERE team_id IN ` + in + `)
		OR person_id IN (SELECT person_id FROM team_supervisors WHERE team_id IN ` + in + `)
		OR EXISTS (SELECT 1 FROM quarantine_refs f CROSS JOIN records r ON r.id = f.record_id
			WHERE f.quarantine_id = quarantine.id AND r.team_id IN ` + in + `) OR ` +
		strings.Join(touches, " OR ") + `)`, args
}

// Quarantine lists quarantined changesets, newest first, without bodies. A
// reviewer's list holds exactly the items they may decide now: the
// candidates reviewerFilter finds, each decided as a discard would be.
func (db *DB) Quarantine(ctx context.Context, f domain.QuarantineFilter) ([]domain.QuarantineItem, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	decided := f.Reviewer != nil && !f.Reviewer.All
	// A reviewer's candidates are found by where records are filed now.
	// (Not a sync's own list of its device's items: it would undo the
	// write-behind batching.)
	if decided {
		if err := db.FlushBehind(ctx); err != nil {
			return nil, err
		}
	}
	frag, filter := reviewerFilter(f.Reviewer)
	var out []domain.QuarantineItem
	err := db.view(ctx, func(tx *Tx) error {
		page := func(before int64, n int) ([]domain.QuarantineItem, error) {
			args := append([]any{f.Open, f.DeviceID, f.DeviceID, before, before}, filter...)
			rows, err := tx.QueryContext(ctx, `SELECT `+quarantineCols+` FROM quarantine
				WHERE (? = 0 OR reviewed_at IS NULL) AND (? = '' OR device_id = ?) AND (? = 0 OR id < ?) AND `+frag+` ORDER BY id DESC LIMIT ?`,
				append(args, n)...)
			return collect(rows, err, func(r *sql.Rows) (domain.QuarantineItem, error) { return scanQuarantine(r) })
		}
		if !decided {
			var err error
			out, err = page(0, f.Limit)
			return err
		}
		var err error
		out, err = domain.ListDecided(f.Limit, page, func(q domain.QuarantineItem) (bool, error) {
			if err := tx.QueryRowContext(ctx, `SELECT body FROM quarantine WHERE id = ?`, q.ID).Scan(&q.Body); err != nil {
				return false, err
			}
			return domain.ReviewerDecides(mayDiscard(ctx, tx, q, *f.Reviewer))
		})
		return err
	})
	return out, err
}

// QuarantineSize is the number of unreviewed quarantined changesets (a metric).
func (db *DB) QuarantineSize(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL`).Scan(&n)
	return n, err
}

// reviewable loads item id with its body if reviewer (a scope) may review
// it; any other item is not found, so ids cannot be probed.
func reviewable(ctx context.Context, tx *Tx, id int64, reviewer domain.Scope) (domain.QuarantineItem, error) {
	frag, args := reviewerFilter(&reviewer)
	var body []byte
	q, err := scanQuarantine(scanFunc(func(dest ...any) error {
		return tx.QueryRowContext(ctx, `SELECT `+quarantineCols+`, body FROM quarantine WHERE id = ? AND `+frag,
			append([]any{id}, args...)...).Scan(append(dest, &body)...)
	}))
	if errors.Is(err, sql.ErrNoRows) {
		return q, notFound("quarantine item", strconv.FormatInt(id, 10))
	} else if err != nil {
		return q, err
	}
	q.Body = body
	// Listed to them only if they may decide it now; so is its page, and
	// so are its release and discard (a release is checked further).
	if !reviewer.All {
		if err := domain.OpenToReviewer(id, mayDiscard(ctx, tx, q, reviewer)); err != nil {
			return domain.QuarantineItem{}, err
		}
	}
	return q, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// QuarantineItem returns one item the reviewer may review, with a readable
// account of what releasing it would change now. Current values of records
// outside the reviewer's teams are not shown.
func (db *DB) QuarantineItem(ctx context.Context, id int64, reviewer domain.Person) (domain.QuarantineDetail, error) {
	var d domain.QuarantineDetail
	err := db.view(ctx, func(tx *Tx) error {
		rs, err := scopeOf(ctx, tx, reviewer)
		if err != nil {
			return err
		}
		if d.QuarantineItem, err = reviewable(ctx, tx, id, rs); err != nil {
			return err
		}
		d.Changes = []domain.RecordChange{}
		if d.Body == nil {
			return nil
		}
		cs, err := syncengine.DecodeChangeset(d.Body)
		if err != nil {
			return nil // kept as it came; nothing readable to show
		}
		ap := &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
		before := map[syncengine.RecordID]*syncengine.Record{}
		for _, dep := range cs.Deps {
			c, err := ap.get(dep.Record)
			if err != nil {
				return err
			}
			before[dep.Record] = c.rec
		}
		var after []*syncengine.Record
		// Placed as a release would place it: after a text compaction a
		// save typed before it names dropped text (textcompact.go).
		if applied, _, _, err := ap.applyText(cs, true); err == nil {
			d.Pending = applied.Status == syncengine.Pending
			after = applied.Records
		}
		visible := func(id syncengine.RecordID) bool {
			c, err := ap.get(id)
			return err == nil && rs.Contains(typeOf(c), c.team, c.service)
		}
		// A reviewer with no say over it now never gets here: reviewable
		// answered not found (mayDiscard).
		d.Changes = domain.DiffChangeset(cs, before, after, visible)
		return nil
	})
	return d, err
}

func typeOf(c *cachedRecord) string {
	if c.rec == nil {
		return ""
	}
	return c.rec.Type
}

// ReviewQuarantine resolves a quarantined changeset the reviewer may
// review. Release re-runs the whole policy as of now: for the changeset's
// pusher (so it can never grant more than the pusher has) and for the
// reviewer; a refusal leaves the item open. Discard keeps it on record,
// unapplied.
func (db *DB) ReviewQuarantine(ctx context.Context, id int64, reviewer domain.Person, resolution string) error {
	if err := domain.CheckResolution(resolution); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		rs, err := scopeOf(ctx, tx, reviewer)
		if err != nil {
			return err
		}
		q, err := reviewable(ctx, tx, id, rs)
		if err != nil {
			return err
		}
		if !q.ReviewedAt.IsZero() {
			return domain.ErrAlreadyReviewed
		}
		// A discard is decided by reviewable (mayDiscard, as of now).
		if resolution == domain.ResolutionRelease {
			if err := release(ctx, tx, q, rs); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE quarantine SET reviewed_by = ?, reviewed_at = ?, resolution = ? WHERE id = ?`,
			reviewer.ID, tx.NowText(), resolution, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_waits WHERE quarantine_id = ?`, id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.ReviewAudit(reviewer.ID, q, resolution))
	})
}

// release applies a quarantined changeset if the policy allows it now.
func release(ctx context.Context, tx *Tx, q domain.QuarantineItem, reviewer domain.Scope) error {
	cs, err := domain.ReleasableChangeset(q)
	if err != nil {
		return err
	}
	dev, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, q.DeviceID))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && dev.Status != domain.DeviceActive) {
		return domain.ErrPusherGone
	} else if err != nil {
		return err
	}
	pusher, err := findPerson(ctx, tx, "id = ?", dev.PersonID)
	if err != nil {
		return err
	}
	ps, err := scopeOf(ctx, tx, pusher)
	if err != nil {
		return err
	}
	ap := &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
	// An open item was never stored, though its phone, having dropped it,
	// may have saved past it: it is applied whole (syncengine.ApplyUnseen),
	// and a late text edit is placed, as on push.
	applied, cs, rebase, err := ap.applyText(cs, true)
	if err != nil {
		return err
	}
	switch applied.Status {
	case syncengine.Pending:
		return domain.ErrStillPending
	case syncengine.Duplicate:
		return nil
	}
	if err := ap.mayRelease(dev, ps, reviewer, cs, applied.Records); err != nil {
		return err
	}
	var res domain.SyncResult
	seq, err := ap.commit(dev.ID, cs, applied.Records, &res)
	if err != nil {
		return err
	}
	if err := ap.noteRebases(seq, rebase); err != nil {
		return err
	}
	if err := ap.resendReleased(seq, cs); err != nil {
		return err
	}
	return ap.drainHeld(&res)
}

// mayDiscard is the policy for a discard, as of now (domain.AuthorizeDiscard):
// the item's teams were where its records were filed when it was refused.
func mayDiscard(ctx context.Context, tx *Tx, q domain.QuarantineItem, reviewer domain.Scope) error {
	cs, err := domain.ReleasableChangeset(q)
	if err != nil {
		return nil // it can never be applied: closing it loses nothing
	}
	ap := &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
	var after []*syncengine.Record
	// Placed as a release would place it, to file what it creates; nothing
	// is written.
	if applied, _, _, err := ap.applyText(cs, true); err == nil && applied.Status != syncengine.Pending {
		after = applied.Records
	}
	return domain.AuthorizeDiscard(admitLookup{ap}, domain.ActorOf(reviewer, nil), q.PersonID, cs, after)
}

// mayRelease is the policy for a release, checked as of now: the pusher's
// device and person, with their scope today, must be allowed to push cs
// (identity, clock, then admit: the policy for every op and the engine's
// domain rules, exactly as a push), so a release never grants more than
// the pusher has; and the reviewer must be allowed to review changes to
// every record it touches, where it is filed now and where it would be.
func (a *applier) mayRelease(dev domain.Device, pusher, reviewer domain.Scope, cs *syncengine.Changeset, after []*syncengine.Record) error {
	who := domain.ActorOf(pusher, &dev)
	if err := checkIdentity(who, []*syncengine.Changeset{cs}); err != nil {
		return err
	}
	if err := checkClock(cs, a.tx.Now()); err != nil {
		return err
	}
	if err := a.admit(who, cs, after); err != nil {
		return err
	}
	return domain.AuthorizeRelease(admitLookup{a}, domain.ActorOf(reviewer, nil), after)
}

// Stats counts the log, records, active devices and open quarantine.
func (db *DB) Stats(ctx context.Context) (domain.LogStats, error) {
	var s domain.LogStats
	if err := db.FlushBehind(ctx); err != nil {
		return s, err
	}
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(seq), 0) FROM changesets), (SELECT COUNT(*) FROM records),
		(SELECT COUNT(*) FROM devices WHERE status = 'active'), (SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL)`).
		Scan(&s.Changesets, &s.Records, &s.Devices, &s.Quarantine)
	return s, err
}

// RecordState returns a record's stored state (nil, nil if unknown), for the portal.
func (db *DB) RecordState(ctx context.Context, id string) (*syncengine.Record, error) {
	var state []byte
	var crc sql.NullInt64
	if err := db.FlushBehind(ctx); err != nil {
		return nil, err
	}
	err := db.read.QueryRowContext(ctx, `SELECT state, crc FROM records WHERE id = ?`, id).Scan(&state, &crc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	rec, err := syncengine.DecodeRecord(state)
	if err != nil || !sound(state, crc) {
		db.markDamaged("record", id)
		return nil, domain.Errorf(domain.EUNAVAILABLE, "record state", "the server's stored copy of this record is damaged (see docs/operations.md, Damaged records)")
	}
	return rec, nil
}

// recordsWhere is the FROM and WHERE of Records: only the conditions f
// sets, so the planner can use records_list (migration 0132) for the type.
func recordsWhere(f domain.RecordFilter) (string, []any) {
	where := `FROM records r WHERE 1`
	var args []any
	for _, c := range []struct{ col, v string }{{"r.type", f.Type}, {"r.service_id", f.ServiceID}, {"r.young_person_id", f.YoungPersonID}} {
		if c.v != "" {
			where += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	if len(f.TeamIDs) > 0 {
		frag, a := scopeFilter(domain.Scope{Teams: f.TeamIDs})
		where += " AND " + frag
		args = append(args, a...)
	}
	return where + ` ORDER BY r.id LIMIT ?`, append(args, f.Limit)
}

// Records lists stored record states matching f, by id (the portal's lists).
func (db *DB) Records(ctx context.Context, f domain.RecordFilter) ([]*syncengine.Record, error) {
	if f.Limit <= 0 {
		f.Limit = 10000
	}
	where, args := recordsWhere(f)
	var out []*syncengine.Record
	err := db.view(ctx, func(tx *Tx) error {
		// Which rows, and their versions, first: the states of records
		// already decoded at that version are not read again (recordcache.go).
		type row struct {
			id       string
			seq, crc int64
		}
		var missing []row
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.updated_seq, COALESCE(r.crc, -1) `+where, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.id, &x.seq, &x.crc); err != nil {
				rows.Close()
				return err
			}
			if r := db.decoded.get(x.id, x.seq, x.crc); r != nil {
				out = append(out, r)
			} else {
				missing = append(missing, x)
				out = append(out, nil)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Fill the gaps in place, keeping the id order: one by one when
		// few are missing, else in one pass over the same rows.
		at := make(map[string]int, len(missing))
		j := 0
		for i := range out {
			if out[i] == nil {
				at[missing[j].id] = i
				j++
			}
		}
		fill := func(id string, state []byte, crc sql.NullInt64, seq int64) {
			r, err := syncengine.DecodeRecord(state)
			if err != nil || !sound(state, crc) {
				// One damaged record must not take the team's lists down.
				db.markDamaged("record", id)
				return
			}
			key := int64(-1) // as the first query's COALESCE(crc, -1)
			if crc.Valid {
				key = crc.Int64
			}
			db.decoded.put(id, seq, key, r)
			out[at[id]] = r
		}
		if len(missing) <= 32 {
			for _, x := range missing {
				var state []byte
				var crc sql.NullInt64
				var seq int64
				if err := tx.QueryRowContext(ctx, `SELECT state, crc, updated_seq FROM records WHERE id = ?`, x.id).Scan(&state, &crc, &seq); err != nil {
					return err
				}
				fill(x.id, state, crc, seq)
			}
		} else if len(missing) > 0 {
			rows, err := tx.QueryContext(ctx, `SELECT r.id, r.state, r.crc, r.updated_seq `+where, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var state []byte
				var crc sql.NullInt64
				var seq int64
				if err := rows.Scan(&id, &state, &crc, &seq); err != nil {
					rows.Close()
					return err
				}
				if _, ok := at[id]; ok {
					fill(id, state, crc, seq)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		kept := out[:0]
		for _, r := range out {
			if r != nil {
				kept = append(kept, r)
			}
		}
		out = kept
		return nil
	})
	return out, err
}

// backfillQuarantineRefs writes the refs of the items refused before
// migration 0260, once (it leaves a marker until this is done). Bodies are
// read one at a time: together they may be large.
func (db *DB) backfillQuarantineRefs(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM quarantine_refs_backfill`).Scan(&pending); err != nil || pending == 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM quarantine WHERE body IS NOT NULL ORDER BY id`)
		ids, err := collect(rows, err, func(r *sql.Rows) (id int64, err error) { return id, r.Scan(&id) })
		if err != nil {
			return err
		}
		for _, id := range ids {
			var body []byte
			if err := tx.QueryRowContext(ctx, `SELECT body FROM quarantine WHERE id = ?`, id).Scan(&body); err != nil {
				return err
			}
			for _, ref := range domain.QuarantineRefsOf(body) {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO quarantine_refs (quarantine_id, record_id) VALUES (?, ?)`, id, ref); err != nil {
					return err
				}
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM quarantine_refs_backfill`)
		return err
	})
}
