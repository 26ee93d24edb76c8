package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Sync applies the pushed changesets, each atomically and exactly once, then
// reads the next pull page, all in one write transaction so the audit, log,
// records and device row always agree. Concurrent syncs share that
// transaction, each in a savepoint of its own (group commit, group.go).
func (db *DB) Sync(ctx context.Context, req domain.SyncRequest) (*domain.SyncResult, error) {
	if err := checkIdentity(domain.ActorOf(domain.Scope{PersonID: req.Person.ID}, &req.Device), req.Changesets); err != nil {
		// On record for oversight (ids and counts only), nothing else stored.
		if aerr := db.AppendAudit(ctx, domain.AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: domain.ActionRefused,
			Detail: map[string]any{"reason": "forged_identity", "changesets": len(req.Changesets)}}); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	var res *domain.SyncResult
	err := db.updateGrouped(ctx, func(ctx context.Context, tx *Tx) (err error) {
		// A run may be repeated (group.go): it starts from nothing.
		res = &domain.SyncResult{Drop: []string{}, Results: []protocol.PushResult{}}
		// Its audit rows (one per changeset) are inserted together at its end.
		tx.bufferAudit()
		defer func() {
			if err == nil {
				err = tx.endAudit(ctx)
			} else {
				tx.audit = auditBuffer{} // rolled back with the savepoint
			}
		}()
		scope, err := scopeOf(ctx, tx, req.Person)
		if err != nil {
			return err
		}
		ap := newApplier(ctx, tx)
		// A push-only sync leaves its records and search entries to the
		// write-behind set (behind.go); any other sync writes the set
		// first, since it reads what others stored.
		ap.deferring = req.NoPull
		if !ap.deferring {
			if err := ap.flushBehind(true); err != nil {
				return fmt.Errorf("write-behind: %w", err)
			}
		}
		ap.received = req.ReceivedFrames()
		if err := ap.prefetch(req.Device.ID, req.Changesets); err != nil {
			return fmt.Errorf("look up pushed changesets: %w", err)
		}
		if err := ap.preloadFiled(req.Changesets); err != nil {
			return fmt.Errorf("look up the records pushed records are filed by: %w", err)
		}
		// The rules plan the request's changes once, after the last of
		// them (see settleLater).
		ap.settleLater = true
		for _, cs := range req.Changesets {
			pr, err := ap.push(req.Device, scope, cs, res)
			if err != nil {
				return fmt.Errorf("push %s/%d: %w", cs.Replica, cs.Start, err)
			}
			res.Results = append(res.Results, pr)
		}
		ap.settleLater = false
		if ap.deferring {
			// The rules settle now, their own edits waiting with the
			// request's records; then the records go to the set, unless
			// something wrote it meanwhile.
			ap.settleLater = true
			err := ap.settle()
			ap.settleLater = false
			if err != nil {
				return err
			}
			if ap.deferring {
				err = ap.deferToBehind()
			} else {
				err = ap.flushRecords()
			}
			if err != nil {
				return err
			}
		} else {
			if err := ap.flushRecords(); err != nil {
				return err
			}
			if err := ap.settle(); err != nil {
				return err
			}
		}
		if err := ap.drainHeld(res); err != nil {
			return fmt.Errorf("retry held changesets: %w", err)
		}
		if !req.NoPull {
			if err := pull(ctx, tx, req, scope, res); err != nil {
				return err
			}
		}
		if err := syncPurges(ctx, tx, req, res); err != nil {
			return err
		}
		if err := touchDevice(ctx, tx, req); err != nil {
			return err
		}
		if len(res.Results) > 0 || len(res.Changesets) > 0 || len(res.Snapshots) > 0 {
			if err := appendSyncAudit(ctx, tx, req, res); err != nil {
				return err
			}
		}
		if db.syncFault != nil {
			return db.syncFault(tx, req)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if req.NoPull && db.behind.full(db.BehindRecords) {
		// The push is stored and answered either way; a failed flush is
		// tried again by the next transaction or the flusher.
		if err := db.FlushBehind(ctx); err != nil {
			db.logger().Error("write-behind flush failed", "err", err.Error())
		}
	}
	db.checkpointAfterErasure(ctx)
	return res, nil
}

type cachedRecord struct {
	rec               *syncengine.Record // nil: does not exist
	team, service, yp string
	exists            bool
}

// applier applies changesets inside one write transaction. Every record it
// reads goes through cache, so a later changeset in the transaction (a rule's
// follow-up, the next pushed changeset) sees the earlier ones.
type applier struct {
	ctx   context.Context
	tx    *Tx
	cache map[syncengine.RecordID]*cachedRecord
	// Held items woken by the changesets stored so far (see drainHeld).
	held domain.HeldQueue
	// noWaits: held_waits was empty when read (waitsRead) and nothing has
	// been held since, so no stored record can wake anything.
	waitsRead, noWaits bool
	usages             map[string]*domain.QuarantineUsage // per device, see usage
	pv                 privacyState                       // erasure bookkeeping (erasure.go)
	// The policy's view of people and teams, read once per transaction
	// (authorise.go).
	policy domain.PolicyCache
	facts  *factsMemo // the rules' reads of people and services (rules.go)

	// changes are the stored records the rules have not planned yet;
	// settling is set while settle drains them (see rules.go).
	changes  []domain.Change
	settling bool
	// settleLater: commit leaves the changes to the caller's settle. Sync
	// sets it for a request's pushed changesets, so the rules run once over
	// all of them and their notifications are written together (a rule sees
	// each change's before and after as stored; what it reads besides is
	// the request's end state, as it would be one request later). Held
	// changesets woken by the request are retried with it off, so whatever
	// the rules' edits wake is retried in the same drain, as before.
	settleLater bool

	// received are the request's changesets' canonical frames as sent
	// (domain.SyncRequest.Received), logged as they are. Keyed by the
	// decoded changeset: a redacted copy is another changeset, encoded anew.
	received map[*syncengine.Changeset][]byte

	pre   prefetched     // the request's lookups, made at once (prefetch.go)
	dirty pendingRecords // records stored but not yet written (materialise.go)
	// deferring: a push-only sync whose records may still go to the
	// write-behind set at its end (behind.go); cleared by anything that
	// writes stored records first (flushRecords, flushBehind).
	deferring bool

	// text: records whose text was compacted (textcompact.go).
	text domain.TextCompactions
}

func newApplier(ctx context.Context, tx *Tx) *applier {
	return &applier{ctx: ctx, tx: tx, cache: map[syncengine.RecordID]*cachedRecord{}}
}

func (a *applier) get(id syncengine.RecordID) (*cachedRecord, error) {
	if c, ok := a.cache[id]; ok {
		return c, nil
	}
	if d, ok := a.tx.behindSet().get(id); ok {
		// Newer than its row (behind.go).
		a.cache[id] = d.cached()
		return a.cache[id], nil
	}
	c := &cachedRecord{}
	var state []byte
	var crc sql.NullInt64
	err := a.tx.QueryRowContext(a.ctx, `SELECT state, crc, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '') FROM records WHERE id = ?`,
		string(id)).Scan(&state, &crc, &c.team, &c.service, &c.yp)
	if errors.Is(err, sql.ErrNoRows) {
		a.cache[id] = c
		return c, nil
	} else if err != nil {
		return nil, err
	}
	// A damaged state is rebuilt from the log, or the change waits (held):
	// the server's damage is never blamed on the phone (checksum.go).
	if c.rec, err = loadRecord(a.ctx, a.tx, id, state, crc); err != nil {
		return nil, err
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

// push applies one changeset inside the sync transaction. Application
// failures (validation, authorisation) quarantine it; only storage failures
// return an error.
func (a *applier) push(dev domain.Device, scope domain.Scope, cs *syncengine.Changeset, res *domain.SyncResult) (protocol.PushResult, error) {
	pr := protocol.PushResult{Replica: cs.Replica.String(), Start: cs.Start}
	who := domain.ActorOf(scope, &dev)
	// Identity first, before any lookup keyed by the changeset's replica id
	// (Sync checks the whole request; a held changeset retried here was
	// written by its device, but is checked again all the same).
	if err := checkIdentity(who, []*syncengine.Changeset{cs}); err != nil {
		pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, domain.ErrorCode(err), domain.ErrorMessage(err)
		res.Quarantined++
		return pr, nil
	}
	// The log is the first line of exactly-once: a retried changeset is found
	// here even if its records were since erased or moved.
	key := csKey{pr.Replica, cs.Start}
	l, found, ok := a.logLookup(key)
	var err error
	if !ok {
		err = a.tx.QueryRowContext(a.ctx, `SELECT seq, body, crc FROM changesets WHERE replica_id = ? AND start = ?`, pr.Replica, cs.Start).
			Scan(&l.seq, &l.body, &l.crc)
		found = err == nil
	}
	seq := l.seq
	if found {
		if !sound(l.body, l.crc) {
			// The phone's copy repairs the damaged stored one.
			if err := a.repairChangeset(seq, cs); err != nil {
				return pr, err
			}
			a.forget(key)
		}
		pr.Status, pr.Seq = protocol.StatusDuplicate, seq
		res.Duplicates++
		return pr, nil
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return pr, err
	}
	// A changeset held only for a missing dependency is tried again: what it
	// depends on may have arrived since (after a restore from backup, phones
	// re-send their work in no particular order).
	heldID, done, err := a.openItem(dev, cs, &pr, res)
	if done {
		return pr, err
	}

	// Redacted first: whatever is kept of it from here on, in the log or
	// in quarantine for review, must not bring erased content back.
	if cs, err = a.redactLedgered(cs); err != nil {
		return pr, err
	}
	if err := checkClock(cs, a.tx.Now()); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	if err := a.checkRedactions(cs); err != nil {
		return a.quarantine(dev, cs, pr, err, res)
	}
	// An open held item's changeset was never stored, though the phone may
	// have saved past it since (syncengine.ApplyUnseen).
	applied, cs, rebase, err := a.applyText(cs, heldID != 0) // places late text edits (textcompact.go)
	if domain.ErrorCode(err) == domain.EMISSINGDEP {
		// A record it touches is damaged (errDamaged): held until repaired.
		return a.hold(dev, cs, pr, heldID, nil, res)
	} else if err != nil {
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
	if err := a.admit(who, cs, applied.Records); err != nil {
		if domain.ErrorCode(err) == domain.EINTERNAL {
			return pr, err
		}
		return a.quarantine(dev, cs, pr, err, res)
	}
	if heldID != 0 && a.deferring {
		// Applied unseen: the write-behind set's crash replay (Apply) would
		// take it for applied already if the phone saved past it, so this
		// push is stored at once, as when it wakes held changesets.
		if err := a.flushRecords(); err != nil {
			return pr, err
		}
	}
	seq, err = a.commit(dev.ID, cs, applied.Records, res)
	if err != nil {
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

// commit appends cs to the log and stores the new record states.
func (a *applier) commit(deviceID string, cs *syncengine.Changeset, recs []*syncengine.Record, res *domain.SyncResult) (int64, error) {
	body := a.received[cs]
	if body == nil {
		body = syncengine.EncodeChangeset(cs)
	}
	r, err := a.tx.ExecContext(a.ctx, `INSERT INTO changesets (replica_id, start, span, device_id, author, received_at, body, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		cs.Replica.String(), cs.Start, cs.Span(), nullString(deviceID), cs.Author, a.tx.NowText(), body, checksum(body))
	if err != nil {
		return 0, err
	}
	seq, err := r.LastInsertId()
	if err != nil {
		return 0, err
	}
	a.noteLogged(csKey{cs.Replica.String(), cs.Start}, loggedChangeset{seq: seq, body: body, crc: sql.NullInt64{Int64: checksum(body), Valid: true}})
	var erased []syncengine.RecordID
	for _, rec := range recs {
		prev, err := a.get(rec.ID)
		if err != nil {
			return 0, err
		}
		f, err := a.fileRecord(rec, prev, deviceID != "", nil)
		if err != nil {
			return 0, err
		}
		team, service, yp := f.Team, f.Service, f.YoungPerson
		if err := a.wakeHeld(cs.Replica.String(), rec.ID); err != nil {
			return 0, err
		}
		if err := a.storeRecord(dirtyRecord{rec: rec, team: team, service: service, yp: yp, seq: seq}); err != nil {
			return 0, err
		}
		if prev.exists && (prev.team != team || prev.service != service) {
			if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
				seq, string(rec.ID), nullString(scopeKey(prev.team, prev.service)), nullString(scopeKey(team, service)), a.tx.NowText()); err != nil {
				return 0, err
			}
			res.Touched = appendKeys(res.Touched, prev.team, prev.service)
		}
		if rec.Type == syncengine.TypeYoungPerson && prev.exists && prev.team != team && team != "" {
			moved, err := a.moveYoungPersonRecords(seq, string(rec.ID), team)
			if err != nil {
				return 0, fmt.Errorf("move records of %s to %s: %w", rec.ID, team, err)
			}
			res.Touched = append(res.Touched, moved...)
		}
		res.Touched = appendKeys(res.Touched, team, service)
		if prev.exists && prev.rec != nil && rec.ConflictCount() > prev.rec.ConflictCount() {
			res.Conflicts++
		}
		if rec.Erased != nil && (prev.rec == nil || prev.rec.Erased == nil) {
			erased = append(erased, rec.ID)
		}
		a.changes = append(a.changes, domain.Change{Before: prev.rec, After: rec, At: a.tx.now})
		a.cache[rec.ID] = &cachedRecord{rec: rec, team: team, service: service, yp: yp, exists: true}
		if err := a.recordConsentDecisions(cs, rec); err != nil {
			return 0, fmt.Errorf("record sharing decision for %s: %w", rec.ID, err)
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
	if err := a.settle(); err != nil {
		return 0, err
	}
	return seq, nil
}

// redactHistory strips erased records' ops from every stored changeset, so
// erasure reaches history and later pulls.
func (a *applier) redactHistory(ids []syncengine.RecordID) error {
	if err := a.flushRecords(); err != nil {
		return err
	}
	isErased := func(id syncengine.RecordID) bool { return slices.Contains(ids, id) }
	for _, id := range ids {
		rows, err := a.tx.QueryContext(a.ctx, `SELECT c.seq, c.body, c.crc FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq WHERE cr.record_id = ?`, string(id))
		if err != nil {
			return err
		}
		type upd struct {
			seq  int64
			body []byte
		}
		var updates []upd
		for rows.Next() {
			var u upd
			var crc sql.NullInt64
			if err := rows.Scan(&u.seq, &u.body, &crc); err != nil {
				rows.Close()
				return err
			}
			cs, err := syncengine.DecodeChangeset(u.body)
			if err != nil || !sound(u.body, crc) {
				// A damaged changeset must not block an erasure. It is never
				// sent, and the phone's copy that repairs it is redacted.
				a.tx.db.markDamaged("changeset", fmt.Sprint(u.seq))
				continue
			}
			if red, changed := syncengine.RedactChangeset(cs, isErased); changed {
				u.body = syncengine.EncodeChangeset(red)
				updates = append(updates, u)
			}
		}
		rows.Close()
		for _, u := range updates {
			if _, err := a.tx.ExecContext(a.ctx, `UPDATE changesets SET body = ?, crc = ? WHERE seq = ?`, u.body, checksum(u.body), u.seq); err != nil {
				return err
			}
		}
	}
	return a.afterErase(ids)
}
