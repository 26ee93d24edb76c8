package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// told to retry, re-sends its changesets and hears "duplicate". A push-only
// sync (NoPull) has no second transaction: its purges are read before the
// first append, and its device row and audit row go with the push's audit
// rows at the end, in the round trip those take anyway (syncDevice). Each
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
		err := db.update(ctx, func(tx *Tx) (err error) {
			pushed = domain.SyncResult{Drop: []string{}, Results: []protocol.PushResult{}}
			res := &pushed
			// Its audit rows (one per changeset) are inserted together at its end.
			tx.bufferAudit()
			defer func() {
				if err == nil {
					err = tx.endAudit(ctx)
				}
			}()
			scope, err := scopeOf(ctx, tx, req.Person)
			if err != nil {
				return err
			}
			ap := newApplier(ctx, tx)
			ap.received = req.ReceivedFrames()
			if err := ap.prefetch(req.Device.ID, req.Changesets); err != nil {
				return fmt.Errorf("look up pushed changesets: %w", err)
			}
			if req.NoPull {
				// A push-only sync (a phone sending page after page) is
				// recorded in its push's transaction, before the commit
				// lock is taken, its audit row with the push's: a second
				// transaction was six more round trips and a commit, for
				// nothing a pull needs.
				if err := syncDevice(ctx, tx, req, res); err != nil {
					return err
				}
			}
			ap.ahead = len(req.Changesets)
			// The request's records are written, and the rules plan its
			// changes, once after the last of them (materialise.go, settleLater).
			ap.settleLater = true
			for _, cs := range req.Changesets {
				pr, err := ap.push(req.Device, scope, cs, res)
				if err != nil {
					return fmt.Errorf("push %s/%d: %w", cs.Replica, cs.Start, err)
				}
				res.Results = append(res.Results, pr)
			}
			ap.settleLater = false
			if err := ap.flushRecords(); err != nil {
				return err
			}
			if err := ap.settle(); err != nil {
				return err
			}
			if err := ap.drainHeld(res); err != nil {
				return fmt.Errorf("retry held changesets: %w", err)
			}
			if e, ok := syncAudit(req, res); ok && req.NoPull {
				return appendAudit(ctx, tx, e)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(pushed.Touched) > 0 {
			db.poke(ctx, pushed.Touched)
		}
		if req.NoPull {
			return &pushed, nil
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
		if err := syncDevice(ctx, tx, req, res); err != nil {
			return err
		}
		if e, ok := syncAudit(req, res); ok {
			// Last: it may hold the sealer's lock to commit (appendAuditLast).
			return appendAuditLast(ctx, tx, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// syncDevice records a device's sync: the purges it confirmed, the
// purges it is still to do (res.Erase), and its row (last seen, cursor,
// unsent count), in one round trip.
func syncDevice(ctx context.Context, tx *Tx, req domain.SyncRequest, res *domain.SyncResult) error {
	b := &pgx.Batch{}
	confirmed := int64(0)
	if len(req.Purged) > 0 {
		b.Queue(`UPDATE purge_notices SET confirmed_at = $1 WHERE device_id = $2 AND record_id = ANY($3::text[]) AND confirmed_at IS NULL`,
			tx.now, req.Device.ID, req.Purged).Exec(func(tag pgconn.CommandTag) error {
			confirmed = tag.RowsAffected()
			return nil
		})
	}
	b.Queue(`SELECT record_id FROM purge_notices WHERE device_id = $1 AND confirmed_at IS NULL ORDER BY record_id LIMIT 1000`, req.Device.ID).
		Query(func(rows pgx.Rows) error {
			ids, err := collect(rows, nil, func(r pgx.Rows) (s string, err error) { return s, r.Scan(&s) })
			res.Erase = ids
			return err
		})
	const deviceSQL = `UPDATE devices SET last_seen = $1, last_sync_at = $1, last_cursor = $2, pending_reported = $3 WHERE id = $4`
	if tx.audit.on {
		// With the audit rows at the end: the device's row is locked only
		// from there to commit, so the same phone's pages sent at once do
		// not queue on it for their whole transactions.
		tx.alongAudit(deviceSQL, tx.now, cursorSeq(req.Cursor), req.Pending, req.Device.ID)
	} else {
		b.Queue(deviceSQL, tx.now, cursorSeq(req.Cursor), req.Pending, req.Device.ID)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if confirmed > 0 {
		return appendAudit(ctx, tx, domain.ConfirmedPurgeAudit(req))
	}
	return nil
}

// syncAudit is a sync's own audit row, if it moved anything.
func syncAudit(req domain.SyncRequest, res *domain.SyncResult) (domain.AuditEntry, bool) {
	if len(res.Results) == 0 && len(res.Changesets) == 0 && len(res.Snapshots) == 0 {
		return domain.AuditEntry{}, false
	}
	ids := slices.Clone(res.SentRecords)
	slices.Sort(ids)
	return domain.AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: "sync",
		Detail: map[string]any{"pushed": len(res.Results), "accepted": res.Accepted, "quarantined": res.Quarantined,
			"changesets_sent": len(res.Changesets), "snapshots_sent": len(res.Snapshots), "drop": len(res.Drop),
			"records": slices.Compact(ids)}}, true
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
	ctx   context.Context
	tx    *Tx
	cache map[syncengine.RecordID]*cachedRecord
	// inTable: records whose row is in the records table as this
	// transaction sees it (read, or written by it), so a write updates it;
	// any other is inserted, and if another node inserted it meanwhile this
	// transaction's merge missed its ops and runs again (errRetry).
	inTable map[syncengine.RecordID]bool
	policy  domain.PolicyCache
	pv      privacyState // erasure bookkeeping (privacy.go)
	// Held items woken by the changesets stored so far, and per-device
	// quarantine usage (held.go).
	held   domain.HeldQueue
	usages map[string]*domain.QuarantineUsage

	changes  []domain.Change
	settling bool
	// settleLater: commit leaves the changes to the caller's settle, and
	// the records to its flushRecords. Sync sets it for a request's pushed
	// changesets, so the rules run once over all of them (a rule sees each
	// change's before and after as stored; what it reads besides is the
	// request's end state) and their intents are written together. Held
	// changesets woken by the request are retried with it off, so whatever
	// the rules' edits wake is retried in the same drain.
	settleLater bool
	// The organisation's lookups of the version this transaction read
	// (orgfacts.go); orgVersion, if the prefetch read it.
	facts      *factsMemo
	orgVersion string

	pre   prefetched     // the request's lookups, made at once (prefetch.go)
	dirty pendingRecords // records stored but not yet written (materialise.go)
	// seqs are log sequence numbers drawn ahead, under the commit lock
	// (logChangeset); ahead is how many the request may need.
	seqs  []int64
	ahead int
	// The server's replicas loaded in this transaction, by meta prefix
	// (rules.go replica): their counter rows stay locked to its end.
	replicas map[string]*serverReplica
	text     domain.TextCompactions // records whose text was compacted (textcompact.go)
	// received are the request's changesets' canonical frames as sent
	// (domain.SyncRequest.ReceivedFrames), logged as they are rather than
	// encoded again.
	received map[*syncengine.Changeset][]byte
}

// deferring reports whether what commit stores waits for flushRecords: a
// request's changesets (settleLater) and the rules' edits (settling, whose
// settle flushes at its end).
func (a *applier) deferring() bool { return a.settleLater || a.settling }

func newApplier(ctx context.Context, tx *Tx) *applier {
	return &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}, inTable: map[syncengine.RecordID]bool{}}
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
	c.exists = true
	return c, a.cacheStored(id, state, c)
}

// cacheStored keeps a record read from the table, its row locked.
func (a *applier) cacheStored(id syncengine.RecordID, state []byte, c *cachedRecord) (err error) {
	if c.rec, err = syncengine.DecodeRecord(state); err != nil {
		return fmt.Errorf("stored record %s: %w", id, err)
	}
	a.cache[id] = c
	a.inTable[id] = true
	return nil
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

// Actor is the policy's view of a person a record names (an assignee, a
// consent decision's maker): read from people, team_supervisors and
// services, so kept with the organisation's lookups while its version
// stands (orgfacts.go). Callers must not modify it.
func (a *applier) Actor(personID string) (*domain.Actor, error) {
	if personID == "" {
		return nil, nil
	}
	m, err := a.orgFacts()
	if err != nil {
		return nil, err
	}
	return memo(&m.mu, &m.actor, personID, func() (*domain.Actor, error) {
		return a.policy.Actor(personID, func(id string) (domain.Scope, error) {
			p, err := findPerson(a.ctx, a.tx, "id = $1", id)
			if err != nil {
				return domain.Scope{}, err
			}
			return scopeOf(a.ctx, a.tx, p)
		})
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
	key := csKey{pr.Replica, cs.Start}
	seq, found, ok := a.logLookup(key)
	if !ok {
		err := a.tx.QueryRow(a.ctx, `SELECT seq FROM changesets WHERE replica_id = $1 AND start = $2`, pr.Replica, cs.Start).Scan(&seq)
		if found = err == nil; err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return pr, err
		}
	}
	if found {
		pr.Status, pr.Seq = protocol.StatusDuplicate, seq
		res.Duplicates++
		return pr, nil
	}
	q, open, ok := a.quarantineLookup(key)
	if !ok {
		err := a.tx.QueryRow(a.ctx, `SELECT id, code, message FROM quarantine WHERE replica_id = $1 AND start = $2 AND device_id = $3 AND reviewed_at IS NULL`,
			pr.Replica, cs.Start, dev.ID).Scan(&q.id, &q.code, &q.message)
		if open = err == nil; err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return pr, err
		}
	}
	var heldID int64
	if open && q.code == domain.EMISSINGDEP {
		heldID = q.id
	} else if open {
		pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, q.code, q.message
		res.Quarantined++
		return pr, nil
	}
	// Redacted first: whatever is kept of it from here on, in the log or
	// in quarantine for review, must not bring erased content back.
	cs, err := a.redactLedgered(cs)
	if err != nil {
		return pr, err
	}
	if err := domain.CheckClock(cs, a.tx.now); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	if err := a.checkRedactions(cs); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	// An open held item's changeset was never stored, though the phone may
	// have saved past it since (syncengine.ApplyUnseen).
	applied, cs, rebase, err := a.applyText(cs, heldID != 0) // places late text edits (textcompact.go)
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

// logChangeset appends cs to the log, or, while writes are deferred (a
// request's changesets, the rules' edits), gives it the next of the
// sequence numbers drawn ahead and leaves its row to flushRecords: a
// statement per changeset was a round trip per changeset. Numbers drawn
// and not used (a changeset refused or a duplicate) leave gaps, as a
// rolled-back insert does; the pull reads seq ranges, never counts on them
// being dense.
func (a *applier) logChangeset(deviceID string, cs *syncengine.Changeset) (seq int64, err error) {
	body := a.received[cs]
	if body == nil {
		body = syncengine.EncodeChangeset(cs)
	}
	if a.deferring() {
		if len(a.seqs) == 0 {
			if err := a.drawSeqs(int64(max(a.ahead, 16))); err != nil {
				return 0, err
			}
		}
		seq, a.seqs = a.seqs[0], a.seqs[1:]
		a.dirty.log = append(a.dirty.log, loggedRow{seq: seq, deviceID: deviceID, cs: cs, body: body})
	} else if err := a.tx.QueryRow(a.ctx, `INSERT INTO changesets (replica_id, start, span, device_id, author, received_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
		cs.Replica.String(), cs.Start, cs.Span(), nullString(deviceID), cs.Author, a.tx.now, body).Scan(&seq); err != nil {
		return 0, err
	}
	a.noteLogged(csKey{cs.Replica.String(), cs.Start}, seq)
	return seq, nil
}

// drawSeqs draws the next n log sequence numbers as one block: nextval
// once, then setval past the block. That is sound only because every log
// seq, on every node, is drawn under the commit lock (seqLock), so no
// other transaction can draw between the two; a nextval per number was
// 2-3 µs of Postgres's time each, some 14,000 a week push.
func (a *applier) drawSeqs(n int64) error {
	if !a.tx.locked {
		return fmt.Errorf("log seqs drawn without the commit lock")
	}
	var last int64
	if err := a.tx.QueryRow(a.ctx, `SELECT setval(s, nextval(s) + $1 - 1) FROM (SELECT pg_get_serial_sequence('changesets', 'seq')::regclass) q (s)`, n).
		Scan(&last); err != nil {
		return err
	}
	a.seqs = a.seqs[:0]
	for v := last - n + 1; v <= last; v++ {
		a.seqs = append(a.seqs, v)
	}
	return nil
}

// commit appends cs to the log and stores the new record states, under the
// commit lock (seqLock) so its seq is in commit order.
func (a *applier) commit(deviceID string, cs *syncengine.Changeset, recs []*syncengine.Record, res *domain.SyncResult) (int64, error) {
	if err := a.tx.seqLock(a.ctx); err != nil {
		return 0, err
	}
	seq, err := a.logChangeset(deviceID, cs)
	if err != nil {
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
		if err := a.storeRecord(dirtyRecord{rec: rec, team: team, service: service, yp: yp, seq: seq, replica: cs.Replica.String()}); err != nil {
			return 0, err
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
			var pending *[]domain.SharingDecision
			if a.deferring() {
				pending = &a.dirty.decisions
			}
			if err := recordSharingDecision(a.ctx, a.tx, d, pending); err != nil {
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
	if a.settling || a.settleLater {
		// A rule's own edit, stored from settle's loop: its changes wait
		// there for the next round. Or a request's changeset: its changes
		// wait for the request's end.
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
	// The query reads the table: the request's pending rows first.
	if err := a.flushRecords(); err != nil {
		return nil, err
	}
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

// recordHistorySQL reads a record's stored changesets, each by its key: as
// a join, planned over an empty log, it read the whole log per erasure.
const recordHistorySQL = `SELECT cr.seq, c.body FROM changeset_records cr
	CROSS JOIN LATERAL (SELECT c.body FROM changesets c WHERE c.seq = cr.seq OFFSET 0) c WHERE cr.record_id = $1`

// redactHistory strips erased records' ops from every stored changeset, so
// erasure reaches history and later pulls.
func (a *applier) redactHistory(ids []syncengine.RecordID) error {
	if err := a.flushRecords(); err != nil {
		return err
	}
	isErased := func(id syncengine.RecordID) bool { return slices.Contains(ids, id) }
	type upd struct {
		seq  int64
		body []byte
	}
	for _, id := range ids {
		rows, err := a.tx.Query(a.ctx, recordHistorySQL, string(id))
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
