package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Sync applies the pushed changesets, each atomically and exactly once, in
// one transaction, then reads the next pull page in a second. The push holds
// the commit lock (seqLock) from its first append to its commit, so every
// pushing sync on every node queues there: the pull, the device's row and
// the audit entry are kept out of that window (30 phones on 3 nodes,
// bench/nodes: the wait on the lock fell from 111-128 ms a sync to 36-66
// ms, see docs/scale-out.md). Splitting
// loses nothing: if the pull fails after the push committed, the phone is
// told to retry, re-sends its changesets and hears "duplicate". Each
// transaction runs again from the start if it loses a race to another node,
// so everything it answers is built inside it.
func (db *DB) Sync(ctx context.Context, req domain.SyncRequest) (*domain.SyncResult, error) {
	if err := domain.CheckIdentity(domain.ActorOf(domain.Scope{PersonID: req.Person.ID}, &req.Device), req.Changesets); err != nil {
		if aerr := db.AppendAudit(ctx, domain.AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: domain.ActionRefused,
			Detail: map[string]any{"reason": "forged_identity", "changesets": len(req.Changesets)}}); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	pushed := domain.SyncResult{Drop: []string{}, Results: []protocol.PushResult{}}
	if len(req.Changesets) > 0 {
		err := db.update(ctx, func(tx *Tx) error {
			pushed = domain.SyncResult{Drop: []string{}, Results: []protocol.PushResult{}}
			res := &pushed
			scope, err := scopeOf(ctx, tx, req.Person)
			if err != nil {
				return err
			}
			ap := newApplier(ctx, tx)
			for _, cs := range req.Changesets {
				pr, err := ap.push(req.Device, scope, cs, res)
				if err != nil {
					return fmt.Errorf("push %s/%d: %w", cs.Replica, cs.Start, err)
				}
				res.Results = append(res.Results, pr)
			}
			if err := ap.drainHeld(res); err != nil {
				return fmt.Errorf("retry held changesets: %w", err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(pushed.Touched) > 0 {
			db.poke(ctx, pushed.Touched)
		}
	}
	var res *domain.SyncResult
	err := db.update(ctx, func(tx *Tx) error {
		r := pushed
		r.Drop = slices.Clone(pushed.Drop)
		r.Touched = slices.Clone(pushed.Touched)
		res = &r
		if !req.NoPull {
			scope, err := scopeOf(ctx, tx, req.Person)
			if err != nil {
				return err
			}
			if err := pull(ctx, tx, req, scope, res); err != nil {
				return err
			}
		}
		if err := syncPurges(ctx, tx, req, res); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE devices SET last_seen = $1, last_sync_at = $1, last_cursor = $2, pending_reported = $3 WHERE id = $4`,
			tx.now, cursorSeq(req.Cursor), req.Pending, req.Device.ID); err != nil {
			return err
		}
		if len(res.Results) > 0 || len(res.Changesets) > 0 || len(res.Snapshots) > 0 {
			ids := slices.Clone(res.SentRecords)
			slices.Sort(ids)
			return appendAudit(ctx, tx, domain.AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: "sync",
				Detail: map[string]any{"pushed": len(res.Results), "accepted": res.Accepted, "quarantined": res.Quarantined,
					"changesets_sent": len(res.Changesets), "snapshots_sent": len(res.Snapshots), "drop": len(res.Drop),
					"records": slices.Compact(ids)}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

type cachedRecord struct {
	rec               *syncengine.Record // nil: does not exist
	team, service, yp string
	exists            bool
}

// applier applies changesets inside one write transaction. Every record it
// reads is locked (FOR UPDATE) until the transaction ends and cached, so a
// merge is computed from the latest committed state and no other node can
// store the record in between.
type applier struct {
	ctx    context.Context
	tx     *Tx
	cache  map[syncengine.RecordID]*cachedRecord
	policy domain.PolicyCache
	pv     privacyState // erasure bookkeeping (privacy.go)
	// Held items woken by the changesets stored so far, and per-device
	// quarantine usage (held.go).
	held   domain.HeldQueue
	usages map[string]*domain.QuarantineUsage

	changes  []domain.Change
	settling bool
	text     domain.TextCompactions // records whose text was compacted (textcompact.go)
}

func newApplier(ctx context.Context, tx *Tx) *applier {
	return &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
}

func (a *applier) get(id syncengine.RecordID) (*cachedRecord, error) {
	if c, ok := a.cache[id]; ok {
		return c, nil
	}
	c := &cachedRecord{}
	var state []byte
	err := a.tx.QueryRow(a.ctx, `SELECT state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '')
		FROM records WHERE id = $1 FOR UPDATE`, string(id)).Scan(&state, &c.team, &c.service, &c.yp)
	if errors.Is(err, pgx.ErrNoRows) {
		a.cache[id] = c
		return c, nil
	} else if err != nil {
		return nil, err
	}
	if c.rec, err = syncengine.DecodeRecord(state); err != nil {
		return nil, fmt.Errorf("stored record %s: %w", id, err)
	}
	c.exists = true
	a.cache[id] = c
	return c, nil
}

func (a *applier) getter(id syncengine.RecordID) (*syncengine.Record, error) {
	c, err := a.get(id)
	if err != nil {
		return nil, err
	}
	return c.rec, nil
}

// The applier as admission's view of the store (domain.Admit).
func (a *applier) Stored(id syncengine.RecordID) (*domain.Stored, error) {
	c, err := a.get(id)
	if err != nil {
		return nil, err
	}
	return &domain.Stored{Rec: c.rec, Team: c.team, Service: c.service, YP: c.yp, Exists: c.exists}, nil
}

func (a *applier) Actor(personID string) (*domain.Actor, error) {
	return a.policy.Actor(personID, func(id string) (domain.Scope, error) {
		p, err := findPerson(a.ctx, a.tx, "id = $1", id)
		if err != nil {
			return domain.Scope{}, err
		}
		return scopeOf(a.ctx, a.tx, p)
	})
}

func (a *applier) TeamExists(id string) (bool, error) {
	return a.policy.TeamExists(id, func(id string) (bool, error) {
		var n int
		err := a.tx.QueryRow(a.ctx, `SELECT COUNT(*) FROM teams WHERE id = $1`, id).Scan(&n)
		return n > 0, err
	})
}

func (a *applier) WasOnTeam(personID, team string) (bool, error) {
	var n int
	err := a.tx.QueryRow(a.ctx, `SELECT COUNT(*) FROM people_past_teams WHERE person_id = $1 AND team_id = $2`, personID, team).Scan(&n)
	return n > 0, err
}

var _ domain.AdmitLookup = (*applier)(nil)

// push applies one changeset inside the sync transaction. Application
// failures (validation, authorisation) quarantine it; only storage failures
// (and lost races, which retry) return an error.
func (a *applier) push(dev domain.Device, scope domain.Scope, cs *syncengine.Changeset, res *domain.SyncResult) (protocol.PushResult, error) {
	pr := protocol.PushResult{Replica: cs.Replica.String(), Start: cs.Start}
	who := domain.ActorOf(scope, &dev)
	if err := domain.CheckIdentity(who, []*syncengine.Changeset{cs}); err != nil {
		pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, domain.ErrorCode(err), domain.ErrorMessage(err)
		res.Quarantined++
		return pr, nil
	}
	var seq int64
	err := a.tx.QueryRow(a.ctx, `SELECT seq FROM changesets WHERE replica_id = $1 AND start = $2`, pr.Replica, cs.Start).Scan(&seq)
	if err == nil {
		pr.Status, pr.Seq = protocol.StatusDuplicate, seq
		res.Duplicates++
		return pr, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return pr, err
	}
	var qcode, qmsg string
	var heldID int64
	err = a.tx.QueryRow(a.ctx, `SELECT id, code, message FROM quarantine WHERE replica_id = $1 AND start = $2 AND device_id = $3 AND reviewed_at IS NULL`,
		pr.Replica, cs.Start, dev.ID).Scan(&heldID, &qcode, &qmsg)
	held := err == nil && qcode == domain.EMISSINGDEP
	if !held {
		heldID = 0
	}
	if err == nil && !held {
		pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, qcode, qmsg
		res.Quarantined++
		return pr, nil
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return pr, err
	}
	if err := domain.CheckClock(cs, a.tx.now); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	if cs, err = a.redactLedgered(cs); err != nil {
		return pr, err
	}
	if err := a.checkRedactions(cs); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	applied, cs, rebase, err := a.applyText(cs) // places late text edits (textcompact.go)
	if err != nil {
		if domain.ErrorCode(err) == domain.EINTERNAL {
			return pr, err
		}
		return a.quarantine(dev, cs, pr, err, res)
	}
	switch applied.Status {
	case syncengine.Duplicate:
		pr.Status = protocol.StatusDuplicate
		res.Duplicates++
		return pr, nil
	case syncengine.Pending:
		return a.hold(dev, cs, pr, heldID, applied.Missing, res)
	}
	if err := domain.Admit(a, who, cs, applied.Records); err != nil {
		if domain.ErrorCode(err) == domain.EINTERNAL {
			return pr, err
		}
		return a.quarantine(dev, cs, pr, err, res)
	}
	if seq, err = a.commit(dev.ID, cs, applied.Records, res); err != nil {
		return pr, err
	}
	if err := a.noteRebases(seq, rebase); err != nil {
		return pr, err
	}
	if heldID != 0 {
		if err := a.releaseHeld(heldID, seq, cs); err != nil {
			return pr, err
		}
	}
	pr.Status, pr.Seq = protocol.StatusAccepted, seq
	res.Accepted++
	return pr, nil
}

// commit appends cs to the log and stores the new record states, under the
// commit lock (seqLock) so its seq is in commit order.
func (a *applier) commit(deviceID string, cs *syncengine.Changeset, recs []*syncengine.Record, res *domain.SyncResult) (int64, error) {
	if err := a.tx.seqLock(a.ctx); err != nil {
		return 0, err
	}
	var seq int64
	if err := a.tx.QueryRow(a.ctx, `INSERT INTO changesets (replica_id, start, span, device_id, author, received_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
		cs.Replica.String(), cs.Start, cs.Span(), nullString(deviceID), cs.Author, a.tx.now, syncengine.EncodeChangeset(cs)).Scan(&seq); err != nil {
		return 0, err
	}
	var erased []syncengine.RecordID
	for _, rec := range recs {
		prev, err := a.get(rec.ID)
		if err != nil {
			return 0, err
		}
		f, err := domain.FileStored(a, rec, a.stored(prev), deviceID != "", nil)
		if err != nil {
			return 0, err
		}
		team, service, yp := f.Team, f.Service, f.YoungPerson
		if _, err := a.tx.Exec(a.ctx, `INSERT INTO changeset_records (seq, record_id) VALUES ($1, $2)`, seq, string(rec.ID)); err != nil {
			return 0, err
		}
		if err := a.wakeHeld(cs.Replica.String(), rec.ID); err != nil {
			return 0, err
		}
		state := syncengine.EncodeRecord(rec)
		args := []any{string(rec.ID), rec.Type, nullString(team), nullString(service), nullString(yp), state, seq, rec.Deleted(), rec.Erased != nil, domain.FieldAt(rec)}
		if prev.exists {
			// Locked since get: nobody changed it since the merge read it.
			if _, err := a.tx.Exec(a.ctx, `UPDATE records SET type = $2, team_id = $3, service_id = $4, young_person_id = $5, state = $6,
				updated_seq = $7, deleted = $8, erased = $9, field_at = $10 WHERE id = $1`, args...); err != nil {
				return 0, err
			}
		} else {
			// Nothing to lock when get found no row: if another node created
			// the record meanwhile, this merge missed its ops; start again.
			tag, err := a.tx.Exec(a.ctx, `INSERT INTO records (id, type, team_id, service_id, young_person_id, state, updated_seq, deleted, erased, field_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`, args...)
			if err != nil {
				return 0, err
			}
			if tag.RowsAffected() == 0 {
				return 0, errRetry
			}
		}
		if err := indexRecord(a.ctx, a.tx, rec); err != nil {
			return 0, fmt.Errorf("search index %s: %w", rec.ID, err)
		}
		if prev.exists && (prev.team != team || prev.service != service) {
			if err := a.scopeEvent(seq, string(rec.ID), domain.ScopeKey(prev.team, prev.service), domain.ScopeKey(team, service)); err != nil {
				return 0, err
			}
			res.Touched = domain.AppendScopeKeys(res.Touched, prev.team, prev.service)
		}
		if rec.Type == syncengine.TypeYoungPerson && prev.exists && prev.team != team && team != "" {
			moved, err := a.moveYoungPersonRecords(seq, string(rec.ID), team)
			if err != nil {
				return 0, fmt.Errorf("move records of %s to %s: %w", rec.ID, team, err)
			}
			res.Touched = append(res.Touched, moved...)
		}
		res.Touched = domain.AppendScopeKeys(res.Touched, team, service)
		if prev.exists && prev.rec != nil && len(rec.Conflicts()) > len(prev.rec.Conflicts()) {
			res.Conflicts++
		}
		if rec.Erased != nil && (prev.rec == nil || prev.rec.Erased == nil) {
			erased = append(erased, rec.ID)
		}
		a.changes = append(a.changes, domain.Change{Before: prev.rec, After: rec, At: a.tx.now})
		a.cache[rec.ID] = &cachedRecord{rec: rec, team: team, service: service, yp: yp, exists: true}
		for _, d := range domain.ConsentDecisions(cs, rec) {
			if err := recordSharingDecision(a.ctx, a.tx, d); err != nil {
				return 0, fmt.Errorf("record sharing decision for %s: %w", rec.ID, err)
			}
		}
	}
	if len(recs) > 0 {
		if err := appendAudit(a.ctx, a.tx, domain.ChangesetAudit(cs.Author, deviceID, seq, len(cs.Ops), recs)); err != nil {
			return 0, err
		}
	}
	if len(erased) > 0 {
		if err := a.redactHistory(erased); err != nil {
			return 0, err
		}
	}
	if a.settling {
		return seq, nil
	}
	return seq, a.settle()
}

func (a *applier) stored(c *cachedRecord) *domain.Stored {
	return &domain.Stored{Rec: c.rec, Team: c.team, Service: c.service, YP: c.yp, Exists: c.exists}
}

func (a *applier) scopeEvent(seq int64, id, from, to string) error {
	_, err := a.tx.Exec(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES ($1, $2, $3, $4, $5)`,
		seq, id, nullString(from), nullString(to), a.tx.now)
	return err
}

// moveYoungPersonRecords files a moved young person's referrals and
// follow-ups under their new team.
func (a *applier) moveYoungPersonRecords(seq int64, yp, team string) ([]string, error) {
	type moved struct{ id, team, service string }
	rows, err := a.tx.Query(a.ctx, `SELECT id, COALESCE(team_id, ''), COALESCE(service_id, '') FROM records
		WHERE young_person_id = $1 AND type IN ($2, $3) AND COALESCE(team_id, '') <> $4 ORDER BY id FOR UPDATE`,
		yp, syncengine.TypeReferral, syncengine.TypeFollowUp, team)
	ms, err := collect(rows, err, func(r pgx.Rows) (m moved, err error) { return m, r.Scan(&m.id, &m.team, &m.service) })
	if err != nil {
		return nil, err
	}
	var touched []string
	for _, m := range ms {
		if _, err := a.tx.Exec(a.ctx, `UPDATE records SET team_id = $1 WHERE id = $2`, team, m.id); err != nil {
			return nil, err
		}
		if err := a.scopeEvent(seq, m.id, domain.ScopeKey(m.team, m.service), domain.ScopeKey(team, m.service)); err != nil {
			return nil, err
		}
		if c, ok := a.cache[syncengine.RecordID(m.id)]; ok {
			c.team = team
		}
		touched = domain.AppendScopeKeys(touched, m.team, "")
	}
	return domain.AppendScopeKeys(touched, team, ""), nil
}

// redactHistory strips erased records' ops from every stored changeset, so
// erasure reaches history and later pulls.
func (a *applier) redactHistory(ids []syncengine.RecordID) error {
	isErased := func(id syncengine.RecordID) bool { return slices.Contains(ids, id) }
	type upd struct {
		seq  int64
		body []byte
	}
	for _, id := range ids {
		rows, err := a.tx.Query(a.ctx, `SELECT c.seq, c.body FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq WHERE cr.record_id = $1`, string(id))
		all, err := collect(rows, err, func(r pgx.Rows) (u upd, err error) { return u, r.Scan(&u.seq, &u.body) })
		if err != nil {
			return err
		}
		for _, u := range all {
			cs, err := syncengine.DecodeChangeset(u.body)
			if err != nil {
				continue
			}
			if red, changed := syncengine.RedactChangeset(cs, isErased); changed {
				if _, err := a.tx.Exec(a.ctx, `UPDATE changesets SET body = $1 WHERE seq = $2`, syncengine.EncodeChangeset(red), u.seq); err != nil {
					return err
				}
			}
		}
	}
	return a.afterErase(ids)
}

// resendReleased makes a released changeset reach phones that already
// passed its seq: a scope event on each record it touches.
func (a *applier) resendReleased(seq int64, cs *syncengine.Changeset) error {
	for _, d := range cs.Deps {
		c, err := a.get(d.Record)
		if err != nil {
			return err
		}
		key := domain.ScopeKey(c.team, c.service)
		if err := a.scopeEvent(seq, string(d.Record), key, key); err != nil {
			return err
		}
	}
	return nil
}
