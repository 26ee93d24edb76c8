package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// quarantine keeps a refused changeset with its reason, for review; its
// body within the device's bounds, beyond them its size and digest.
func (a *applier) quarantine(dev domain.Device, cs *syncengine.Changeset, pr protocol.PushResult, cause error, res *domain.SyncResult) (protocol.PushResult, error) {
	code := syncengine.ErrorCode(cause)
	if code == domain.EINTERNAL {
		return pr, cause
	}
	msg := syncengine.ErrorMessage(cause)
	body := syncengine.EncodeChangeset(cs)
	u, err := a.usage(dev.ID)
	if err != nil {
		return pr, err
	}
	var stored []byte
	if u.Keep(a.tx.db.bounds(), int64(len(body))) {
		stored = body
	}
	id, err := a.storeItem(dev, pr, cs, code, msg, body, stored)
	if err != nil {
		return pr, err
	}
	if _, err := a.tx.Exec(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = $1`, id); err != nil {
		return pr, err
	}
	if err := appendAudit(a.ctx, a.tx, domain.AuditEntry{DeviceID: dev.ID, PersonID: dev.PersonID, Action: domain.ActionQuar,
		Detail: map[string]any{"replica": pr.Replica, "start": cs.Start, "code": code, "bytes": len(body), "body_kept": stored != nil}}); err != nil {
		return pr, err
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, code, msg
	res.Quarantined++
	return pr, nil
}

// storeItem writes (or reopens) the device's quarantine item for cs: its
// size and digest always, the body only if stored is not nil.
func (a *applier) storeItem(dev domain.Device, pr protocol.PushResult, cs *syncengine.Changeset, code, msg string, body, stored []byte) (id int64, err error) {
	a.forget(csKey{pr.Replica, cs.Start})
	digest := sha256.Sum256(body)
	teams, err := a.touchedTeams(cs)
	if err != nil {
		return 0, err
	}
	err = a.tx.QueryRow(a.ctx, `INSERT INTO quarantine (device_id, person_id, teams, replica_id, start, code, message, body, body_size, body_digest, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (device_id, replica_id, start) DO UPDATE SET teams = excluded.teams, code = excluded.code, message = excluded.message,
			body = excluded.body, body_size = excluded.body_size, body_digest = excluded.body_digest, created = excluded.created,
			reviewed_by = NULL, reviewed_at = NULL, resolution = NULL
		RETURNING id`,
		dev.ID, dev.PersonID, teams, pr.Replica, cs.Start, code, msg, stored, len(body), digest[:], a.tx.now).Scan(&id)
	if err != nil {
		return 0, err
	}
	// The records it writes, or that file them, for the reviewers' list
	// (migration 0260).
	if _, err := a.tx.Exec(a.ctx, `DELETE FROM quarantine_refs WHERE quarantine_id = $1`, id); err != nil {
		return 0, err
	}
	_, err = a.tx.Exec(a.ctx, `INSERT INTO quarantine_refs (quarantine_id, record_id) SELECT $1, unnest($2::text[])`, id, domain.QuarantineRefs(cs))
	return id, err
}

// touchedTeams lists the teams whose records cs writes into (domain.TouchedTeams).
func (a *applier) touchedTeams(cs *syncengine.Changeset) (string, error) {
	return domain.TouchedTeams(cs, func(id syncengine.RecordID) (string, bool, error) {
		c, err := a.get(id)
		if err != nil {
			return "", false, err
		}
		return c.team, c.exists, nil
	}, func(id string) (string, error) {
		// The query reads the table: the request's pending rows first.
		if err := a.flushRecords(); err != nil {
			return "", err
		}
		var team string
		err := a.tx.QueryRow(a.ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = $1`, id).Scan(&team)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		return team, err
	})
}

const quarantineCols = `id, device_id, person_id, replica_id, start, code, message, body IS NOT NULL, body_size, COALESCE(body_digest, ''::bytea),
	created, COALESCE(reviewed_by, ''), reviewed_at, COALESCE(resolution, '')`

func scanQuarantine(sc pgx.Row, extra ...any) (domain.QuarantineItem, error) {
	var q domain.QuarantineItem
	var digest []byte
	var reviewed *time.Time
	err := sc.Scan(append([]any{&q.ID, &q.DeviceID, &q.PersonID, &q.ReplicaID, &q.Start, &q.Code, &q.Message, &q.BodyKept, &q.BodySize, &digest,
		&q.Created, &q.ReviewedBy, &reviewed, &q.Resolution}, extra...)...)
	q.Created, q.ReviewedAt = q.Created.UTC(), tm(reviewed)
	q.BodyDigest = hex.EncodeToString(digest)
	return q, err
}

// reviewerFilter limits items to the candidates a reviewer may decide (nil:
// all; $n: the teams): pushed by a member or supervisor of their teams,
// writing records (or records that file them, quarantine_refs) filed under
// their teams now, or written into their teams when refused. It is a
// superset: which of them the reviewer may decide now is mayDiscard's. A
// record's team is a scalar subquery on its key: as a join, the planner
// hashed every record of the reviewer's teams for each list.
func reviewerFilter(s *domain.Scope, n int) (string, any) {
	switch {
	case s == nil || s.All:
		return "($" + strconv.Itoa(n) + "::text[] IS NULL OR true)", nil
	case s.Practitioner() || len(s.Teams) == 0:
		return "($" + strconv.Itoa(n) + "::text[] IS NULL AND false)", nil
	}
	p := "$" + strconv.Itoa(n)
	return `(person_id IN (SELECT id FROM people WHERE team_id = ANY(` + p + `::text[]))
		OR person_id IN (SELECT person_id FROM team_supervisors WHERE team_id = ANY(` + p + `::text[]))
		OR EXISTS (SELECT 1 FROM quarantine_refs f WHERE f.quarantine_id = quarantine.id
			AND (SELECT r.team_id FROM records r WHERE r.id = f.record_id) = ANY(` + p + `::text[]))
		OR EXISTS (SELECT 1 FROM unnest(` + p + `::text[]) t WHERE position(' ' || t || ' ' in teams) > 0))`, s.Teams
}

// quarantineListSQL is a page of the list for reviewer ($1 open only, $2
// device or ”, $3 limit, $4 the teams (arg), $5 ids below, 0: all).
func quarantineListSQL(reviewer *domain.Scope) (string, any) {
	frag, arg := reviewerFilter(reviewer, 4)
	return `SELECT ` + quarantineCols + ` FROM quarantine
		WHERE (NOT $1 OR reviewed_at IS NULL) AND ($2 = '' OR device_id = $2) AND ($5::bigint = 0 OR id < $5) AND ` + frag + ` ORDER BY id DESC LIMIT $3`, arg
}

// Quarantine lists refused changesets (never their bodies), newest first. A
// reviewer's list holds exactly the items they may decide now: the
// candidates reviewerFilter finds, each decided as a discard would be.
func (db *DB) Quarantine(ctx context.Context, f domain.QuarantineFilter) ([]domain.QuarantineItem, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query, arg := quarantineListSQL(f.Reviewer)
	if f.Reviewer == nil || f.Reviewer.All {
		rows, err := db.pool.Query(ctx, query, f.Open, f.DeviceID, f.Limit, arg, int64(0))
		return collect(rows, err, func(r pgx.Rows) (domain.QuarantineItem, error) { return scanQuarantine(r) })
	}
	var out []domain.QuarantineItem
	// A write transaction only for the applier's row locks, as QuarantineItem.
	err := db.update(ctx, func(tx *Tx) (err error) {
		out, err = domain.ListDecided(f.Limit, func(before int64, n int) ([]domain.QuarantineItem, error) {
			rows, err := tx.Query(ctx, query, f.Open, f.DeviceID, n, arg, before)
			return collect(rows, err, func(r pgx.Rows) (domain.QuarantineItem, error) { return scanQuarantine(r) })
		}, func(q domain.QuarantineItem) (bool, error) {
			if err := tx.QueryRow(ctx, `SELECT body FROM quarantine WHERE id = $1`, q.ID).Scan(&q.Body); err != nil {
				return false, err
			}
			return domain.ReviewerDecides(mayDiscard(ctx, tx, q, *f.Reviewer))
		})
		return err
	})
	return out, err
}

// QuarantineSize counts the open items.
func (db *DB) QuarantineSize(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM quarantine WHERE reviewed_at IS NULL`).Scan(&n)
	return n, err
}

// reviewable reads an item with its body if the reviewer may review it;
// others are not found.
func reviewable(ctx context.Context, tx *Tx, id int64, reviewer domain.Scope, lock string) (domain.QuarantineItem, error) {
	frag, arg := reviewerFilter(&reviewer, 2)
	var body []byte
	q, err := scanQuarantine(tx.QueryRow(ctx, `SELECT `+quarantineCols+`, body FROM quarantine WHERE id = $1 AND `+frag+lock, id, arg), &body)
	if errors.Is(err, pgx.ErrNoRows) {
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

// QuarantineItem is one item the reviewer may review, with what releasing
// it would change, shown only for records the reviewer may see.
func (db *DB) QuarantineItem(ctx context.Context, id int64, reviewer domain.Person) (domain.QuarantineDetail, error) {
	var d domain.QuarantineDetail
	// A write transaction only for the applier's row locks; nothing is written.
	err := db.update(ctx, func(tx *Tx) error {
		d = domain.QuarantineDetail{}
		rs, err := scopeOf(ctx, tx, reviewer)
		if err != nil {
			return err
		}
		if d.QuarantineItem, err = reviewable(ctx, tx, id, rs, ""); err != nil {
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
		ap := newApplier(ctx, tx)
		before := map[syncengine.RecordID]*syncengine.Record{}
		for _, dep := range cs.Deps {
			if before[dep.Record], err = ap.getter(dep.Record); err != nil {
				return err
			}
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
			typ := ""
			if err == nil && c.rec != nil {
				typ = c.rec.Type
			}
			return err == nil && rs.Contains(typ, c.team, c.service)
		}
		// A reviewer with no say over it now never gets here: reviewable
		// answered not found (mayDiscard).
		d.Changes = domain.DiffChangeset(cs, before, after, visible)
		return nil
	})
	return d, err
}

// ReviewQuarantine settles an item the reviewer may review: discard keeps
// it on record only; release applies it if the policy allows it now, for
// its pusher and for the reviewer.
func (db *DB) ReviewQuarantine(ctx context.Context, id int64, reviewer domain.Person, resolution string) error {
	if err := domain.CheckResolution(resolution); err != nil {
		return err
	}
	return db.update(ctx, func(tx *Tx) error {
		rs, err := scopeOf(ctx, tx, reviewer)
		if err != nil {
			return err
		}
		q, err := reviewable(ctx, tx, id, rs, " FOR UPDATE")
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
		if _, err := tx.Exec(ctx, `UPDATE quarantine SET reviewed_by = $1, reviewed_at = $2, resolution = $3 WHERE id = $4`,
			reviewer.ID, tx.now, resolution, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM held_waits WHERE quarantine_id = $1`, id); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.ReviewAudit(reviewer.ID, q, resolution))
	})
}

// mayDiscard is the policy for a discard, as of now (domain.AuthorizeDiscard):
// the item's teams were where its records were filed when it was refused.
func mayDiscard(ctx context.Context, tx *Tx, q domain.QuarantineItem, reviewer domain.Scope) error {
	cs, err := domain.ReleasableChangeset(q)
	if err != nil {
		return nil // it can never be applied: closing it loses nothing
	}
	ap := newApplier(ctx, tx)
	var after []*syncengine.Record
	// Placed as a release would place it, to file what it creates; nothing
	// is written.
	if applied, _, _, err := ap.applyText(cs, true); err == nil && applied.Status != syncengine.Pending {
		after = applied.Records
	}
	return domain.AuthorizeDiscard(ap, domain.ActorOf(reviewer, nil), q.PersonID, cs, after)
}

// release applies a reviewed item as its pusher, checked as of now.
func release(ctx context.Context, tx *Tx, q domain.QuarantineItem, reviewer domain.Scope) error {
	cs, err := domain.ReleasableChangeset(q)
	if err != nil {
		return err
	}
	dev, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE id = $1`, q.DeviceID))
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && dev.Status != domain.DeviceActive) {
		return domain.ErrPusherGone
	} else if err != nil {
		return err
	}
	pusher, err := findPerson(ctx, tx, "id = $1", dev.PersonID)
	if err != nil {
		return err
	}
	ps, err := scopeOf(ctx, tx, pusher)
	if err != nil {
		return err
	}
	ap := newApplier(ctx, tx)
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
	who := domain.ActorOf(ps, &dev)
	if err := domain.CheckIdentity(who, []*syncengine.Changeset{cs}); err != nil {
		return err
	}
	if err := domain.CheckClock(cs, tx.now); err != nil {
		return err
	}
	if err := domain.Admit(ap, who, cs, applied.Records); err != nil {
		return err
	}
	if err := domain.AuthorizeRelease(ap, domain.ActorOf(reviewer, nil), applied.Records); err != nil {
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
	// What waited for it is tried now: nothing else would wake it, as the
	// changes it waits for are stored (and it would hold back the text
	// compaction of what it waits on).
	return ap.drainHeld(&res)
}

// backfillQuarantineRefs writes the refs of the items refused before
// migration 0260, once; two nodes starting at once: one does it, the other
// waits and finds nothing pending. Bodies are read one at a time.
func (db *DB) backfillQuarantineRefs(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		var pending int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM quarantine_refs_backfill FOR UPDATE) p`).Scan(&pending); err != nil || pending == 0 {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM quarantine WHERE body IS NOT NULL ORDER BY id`)
		ids, err := collect(rows, err, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) })
		if err != nil {
			return err
		}
		for _, id := range ids {
			var body []byte
			if err := tx.QueryRow(ctx, `SELECT body FROM quarantine WHERE id = $1`, id).Scan(&body); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO quarantine_refs (quarantine_id, record_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
				id, domain.QuarantineRefsOf(body)); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM quarantine_refs_backfill`)
		return err
	})
}
