package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Write-behind (issue 12): a push-only sync (SyncRequest.NoPull) commits,
// durably, everything but its records' rows: the log (changesets,
// changeset_records), held and quarantined changesets, audit, scope events,
// the device row, and the rules' notifications, alerts and edits, settled
// at its end exactly as before. The records' new states and their search
// entries wait in the DB's write-behind set, and are written for many
// requests at once (flushBehind): each record once, the search index once.
// A week of field work pushed in 363 requests wrote the same records and
// index pages up to 363 times.
//
// Nobody but the pushes themselves may see the difference:
//   - every other transaction writes the set first, in its own transaction
//     (BeginTx; in a group-commit batch, each sync that is not push-only,
//     inside its savepoint), and every read transaction has it written
//     before it starts (BeginRead, view), so pulls, the portal, exports,
//     erasure and the admin see exactly what they saw before;
//   - the next push, and the rules, read records through the set
//     (applier.get, preload);
//   - inside a push, whatever needs stored records (applier.flushRecords: a
//     young person's move, an erasure, a repair, woken held changesets)
//     writes the set, and that push is then stored in its own transaction.
//
// The rules still run in the push's transaction: a change whose rules fail
// is refused with its sync, as before, and never waits in the set where it
// could hold up every later transaction.
//
// The set is written when it reaches its bound (by the push that filled
// it), in the background once its oldest record has waited BehindDelay,
// and at Close. Nothing waits for these: a reader writes the set itself.
// They bound the memory, the WAL frames one flush writes and the log a
// crash leaves to replay. (A flush after a pause between pushes wrote the
// set after every request of a busy client: the pause is the client's.)
//
// The set changes only under the write turn. A transaction's changes to it
// are undone with the transaction: a grouped sync rolled back to its
// savepoint, a batch whose transaction is lost or whose commit fails (its
// syncs then run again alone), any write transaction rolled back
// (behindMark, restore). Only a commit makes them visible to readers outside
// the turn (publish).
//
// Crash safety: every changeset whose records the set holds is in the log,
// committed. meta 'materialised_seq' (the watermark, migration 0215) is a
// log sequence up to which every changeset's records are stored and
// indexed; past it, a changeset's records either wait in the set or were
// stored at once. At Open, the log past the watermark is applied again, in
// order, to the records as stored (replayBehind): what was stored at once is
// already in its records (syncengine.Apply finds a duplicate), and what the
// set held is stored and indexed now. The rules are not run again: they ran
// when the change was accepted.

// Bounds of the write-behind set, and its timings.
const (
	// DefaultBehindRecords bounds the records the set holds: their states
	// are kept decoded in memory until the flush.
	DefaultBehindRecords = 4096
	// DefaultBehindDelay is how long a record may wait in the set before
	// the background writes it.
	DefaultBehindDelay = time.Second
)

// behindEntry is one stored state of a record in the set.
type behindEntry struct {
	d    dirtyRecord
	prev int // index of the record's previous entry (-1: none), for restore
}

// behindSet is the records stored but not yet written, each with its
// filing and log sequence, in the order they were stored. Entries are only
// appended (restore cuts the tail), so a mark is a length.
type behindSet struct {
	entries []behindEntry
	latest  map[syncengine.RecordID]int // index of each record's last entry
	maxSeq  int64                       // the highest log sequence whose records are here
}

func (s *behindSet) empty() bool { return len(s.entries) == 0 }

func (s *behindSet) get(id syncengine.RecordID) (dirtyRecord, bool) {
	i, ok := s.latest[id]
	if !ok {
		return dirtyRecord{}, false
	}
	return s.entries[i].d, true
}

func (s *behindSet) put(d dirtyRecord) {
	if s.latest == nil {
		s.latest = map[syncengine.RecordID]int{}
	}
	prev, ok := s.latest[d.rec.ID]
	if !ok {
		prev = -1
	}
	s.latest[d.rec.ID] = len(s.entries)
	s.entries = append(s.entries, behindEntry{d: d, prev: prev})
	s.maxSeq = max(s.maxSeq, d.seq)
}

// records are each record's last state, in the order of those states.
func (s *behindSet) records() []dirtyRecord {
	out := make([]dirtyRecord, 0, len(s.latest))
	for i, e := range s.entries {
		if s.latest[e.d.rec.ID] == i {
			out = append(out, e.d)
		}
	}
	return out
}

// compact keeps only each record's last entry. Older entries exist for
// restore, and no mark outlives the transaction that took it, so after a
// commit they only hold old states in memory: a note edited in every push
// kept one copy per push until the flush.
func (s *behindSet) compact() {
	recs := s.records()
	s.entries = s.entries[:0:0]
	clear(s.latest)
	for _, d := range recs {
		s.latest[d.rec.ID] = len(s.entries)
		s.entries = append(s.entries, behindEntry{d: d, prev: -1})
	}
}

// cached is d as the applier's cache holds a stored record.
func (d dirtyRecord) cached() *cachedRecord {
	return &cachedRecord{rec: d.rec, team: d.team, service: d.service, yp: d.yp, exists: true}
}

// writeBehind is the DB's set and its background flusher.
type writeBehind struct {
	set *behindSet // the write turn's: only its holder reads or changes it

	// What the last commit left, for readers outside the turn.
	records atomic.Int64
	firstAt atomic.Int64 // unix ns: when the set became non-empty

	// version is the write connection's PRAGMA data_version when the last
	// write transaction began: it moves only when another connection (a
	// tool beside the server, on the same file) commits (seeOthers).
	version int64
	replays atomic.Int64

	kick       chan struct{}
	stop, done chan struct{}
	stopOnce   sync.Once
	flushes    atomic.Int64
}

// behindSet is the write-behind set as tx sees it: a read transaction
// sees none (it began after the set was written, and must not touch what
// the write turn's holder is changing).
func (tx *Tx) behindSet() *behindSet {
	if !tx.writer {
		return &behindSet{}
	}
	return tx.db.behind.cur()
}

func (w *writeBehind) cur() *behindSet {
	if w.set == nil {
		w.set = &behindSet{}
	}
	return w.set
}

// take hands the set over to a flush and starts an empty one; the taken
// set is never changed again, so a mark taken before can bring it back.
func (w *writeBehind) take() *behindSet {
	s := w.cur()
	w.set = &behindSet{}
	return s
}

// behindMark is what restore needs to undo everything after it.
type behindMark struct {
	set     *behindSet
	entries int
	maxSeq  int64
	version int64
}

func (w *writeBehind) mark() behindMark {
	s := w.cur()
	return behindMark{set: s, entries: len(s.entries), maxSeq: s.maxSeq, version: w.version}
}

// restore puts the set back as it was at m: entries put since are dropped
// (each record's previous entry is its latest again) and a flush since is
// undone (its rows were rolled back with it).
func (w *writeBehind) restore(m behindMark) {
	s := m.set
	if s == nil {
		return
	}
	for i := len(s.entries) - 1; i >= m.entries; i-- {
		e := s.entries[i]
		if e.prev < 0 {
			delete(s.latest, e.d.rec.ID)
		} else {
			s.latest[e.d.rec.ID] = e.prev
		}
		s.entries[i] = behindEntry{}
	}
	s.entries = s.entries[:m.entries]
	s.maxSeq = m.maxSeq
	w.set = s
	w.version = m.version
}

// publish makes the committed set's size visible outside the turn and
// wakes the flusher. Called after a commit, still holding the turn.
func (w *writeBehind) publish() {
	s := w.cur()
	n := int64(len(s.latest))
	if n == 0 {
		w.records.Store(0)
		w.firstAt.Store(0)
		return
	}
	if w.records.Load() == 0 {
		w.firstAt.Store(time.Now().UnixNano())
	}
	w.records.Store(n)
	if len(s.entries) > 2*len(s.latest) {
		s.compact()
	}
	if w.kick != nil {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// pending reports whether committed changes wait in the set.
func (w *writeBehind) pending() bool { return w.records.Load() > 0 }

// full reports whether the committed set has reached its bound.
func (w *writeBehind) full(maxRecords int) bool {
	if maxRecords <= 0 {
		maxRecords = DefaultBehindRecords
	}
	return w.records.Load() >= int64(maxRecords)
}

// deferToBehind ends a push-only sync's changesets, once the rules have
// settled them: the changeset_records rows go into the log now, the
// records into the set.
func (a *applier) deferToBehind() error {
	p := a.dirty
	a.dirty = pendingRecords{}
	if err := insertRows(a.ctx, a.tx, `INSERT INTO changeset_records (seq, record_id) VALUES `, "", p.links); err != nil {
		return err
	}
	s := a.tx.db.behind.cur()
	for _, d := range p.recs.Values() {
		s.put(d)
	}
	return nil
}

// flushBehind writes what the set holds in a's transaction: each record's
// last state (with its search entry, indexed before the commit), then the
// watermark. Once the set is written, a's own records are written in its
// transaction too, never left to the set (a's sync is no longer deferring).
// atStart: nothing this transaction has logged is unwritten, so the
// watermark can be the log's end.
func (a *applier) flushBehind(atStart bool) error {
	w := &a.tx.db.behind
	if a.tx.behindSet().empty() {
		return nil
	}
	a.deferring = false
	s := w.take()
	// a's cache keeps what a read from the set, or a newer state of a's
	// own: the rows written here are older than anything a holds.
	for _, d := range s.records() {
		if err := a.upsertRecord(d); err != nil {
			return err
		}
	}
	seq := s.maxSeq
	if atStart {
		if err := a.tx.QueryRowContext(a.ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&seq); err != nil {
			return err
		}
	}
	w.flushes.Add(1)
	return setWatermark(a.ctx, a.tx, seq)
}

// setWatermark records that every changeset logged up to seq has its
// records stored and indexed.
func setWatermark(ctx context.Context, tx *Tx, seq int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'materialised_seq' AND CAST(value AS INTEGER) < ?`, seq, seq)
	return err
}

// flushBehind writes the set at the start of tx (see BeginTx).
func (tx *Tx) flushBehind(ctx context.Context) error {
	if tx.behindSet().empty() {
		return nil
	}
	if err := newApplier(ctx, tx).flushBehind(true); err != nil {
		return fmt.Errorf("write-behind: %w", err)
	}
	return nil
}

// seeOthers is the first thing a write transaction does: if another
// connection to the file (another process: a tool beside the server)
// committed since this process's last write transaction, it wrote records
// without knowing this process's set, and the set's states, made from the
// rows as they were, must not overwrite its rows. The set is dropped and
// the log past the watermark applied again to the records as they now
// stand, which stores what both wrote (and whatever the other process had
// left unwritten, so the watermark can move past it).
func (tx *Tx) seeOthers(ctx context.Context) error {
	var v int64
	if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return err
	}
	w := &tx.db.behind
	seen := w.version
	w.version = v
	if seen == 0 || seen == v {
		return nil
	}
	w.set = &behindSet{}
	w.replays.Add(1)
	if _, _, err := replayLog(ctx, tx); err != nil {
		return fmt.Errorf("write-behind: another process wrote: %w", err)
	}
	return nil
}

// FlushBehind writes the write-behind set now (a no-op when it is empty).
func (db *DB) FlushBehind(ctx context.Context) error {
	if !db.behind.pending() {
		return nil
	}
	// BeginTx flushes the set.
	return db.update(ctx, func(*Tx) error { return nil })
}

// startBehind starts the background flusher.
func (db *DB) startBehind() {
	w := &db.behind
	w.kick, w.stop, w.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	delay := db.BehindDelay
	if delay <= 0 {
		delay = DefaultBehindDelay
	}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-w.kick:
			}
			for w.pending() {
				due := w.firstAt.Load() + int64(delay)
				if wait := time.Duration(due - time.Now().UnixNano()); wait > 0 {
					select {
					case <-w.stop:
						return
					case <-time.After(wait):
					}
					continue
				}
				if err := db.FlushBehind(context.Background()); err != nil {
					db.logger().Error("write-behind flush failed; retried", "err", err.Error())
					select {
					case <-w.stop:
						return
					case <-time.After(delay):
					}
				}
			}
		}
	}()
}

// stopBehind stops the flusher and writes what the set holds.
func (db *DB) stopBehind() error {
	w := &db.behind
	if w.stop == nil {
		return nil
	}
	first := false
	w.stopOnce.Do(func() { close(w.stop); first = true })
	<-w.done
	if !first || db.refuseWrite() != nil {
		return nil
	}
	return db.update(context.Background(), func(tx *Tx) error {
		// Everything logged is stored now: the next Open need not look
		// at the log at all.
		var seq int64
		if err := tx.QueryRowContext(context.Background(), `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&seq); err != nil {
			return err
		}
		return setWatermark(context.Background(), tx, seq)
	})
}

// replayBehind stores what a process that stopped without flushing left
// in its set: the log past the watermark, applied again in order to the
// records as stored, then indexed (see the top of this file). The rules
// are not run: they settled each change when it was accepted.
func (db *DB) replayBehind(ctx context.Context) error {
	var replayed, stored int
	err := db.update(ctx, func(tx *Tx) (err error) {
		replayed, stored, err = replayLog(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	if stored > 0 {
		db.logger().Warn("write-behind: stored records the last run left unwritten", "changesets", replayed, "records", stored)
	}
	return nil
}

// replayLog applies the log past the watermark again, in order, to the
// records as stored, and stores what changed; then everything logged is
// stored, and the watermark is the log's end.
func replayLog(ctx context.Context, tx *Tx) (replayed, stored int, err error) {
	db := tx.db
	var mark int64
	if err := tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'materialised_seq'`).Scan(&mark); err != nil {
		return 0, 0, fmt.Errorf("watermark: %w", err)
	}
	ap := newApplier(ctx, tx)
	const page = 512
	for {
		type logRow struct {
			seq    int64
			body   []byte
			crc    sql.NullInt64
			device string
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, body, crc, COALESCE(device_id, '') FROM changesets WHERE seq > ? ORDER BY seq LIMIT ?`, mark, page)
		logged, err := collect(rows, err, func(r *sql.Rows) (x logRow, err error) {
			return x, r.Scan(&x.seq, &x.body, &x.crc, &x.device)
		})
		if err != nil {
			return replayed, stored, err
		}
		for _, l := range logged {
			mark = l.seq
			cs, err := syncengine.DecodeChangeset(l.body)
			if err != nil || !sound(l.body, l.crc) {
				db.markDamaged("changeset", fmt.Sprint(l.seq))
				continue
			}
			replayed++
			// As the push applied it: a late text edit to a compacted
			// record is placed (textcompact.go); its rebase was noted then.
			applied, _, _, err := ap.applyText(cs, false)
			if err != nil {
				// A record it touches is damaged (held until repaired
				// when it was pushed) or it never applied: nothing the
				// set could have held.
				if domain.ErrorCode(err) != domain.EMISSINGDEP {
					db.logger().Warn("write-behind replay: changeset not applied", "seq", l.seq, "err", err.Error())
				}
				continue
			}
			if applied.Status != syncengine.Applied {
				continue
			}
			for _, rec := range applied.Records {
				prev, err := ap.get(rec.ID)
				if err != nil {
					return replayed, stored, err
				}
				f, err := ap.fileRecord(rec, prev, l.device != "", nil)
				if err != nil {
					return replayed, stored, fmt.Errorf("replay %d: file %s: %w", l.seq, rec.ID, err)
				}
				ap.dirty.recs.Put(rec.ID, dirtyRecord{rec: rec, team: f.Team, service: f.Service, yp: f.YoungPerson, seq: l.seq})
				ap.cache[rec.ID] = &cachedRecord{rec: rec, team: f.Team, service: f.Service, yp: f.YoungPerson, exists: true}
				stored++
			}
		}
		if len(logged) < page {
			break
		}
	}
	if err := ap.flushRecords(); err != nil {
		return replayed, stored, err
	}
	var end int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changesets`).Scan(&end); err != nil {
		return replayed, stored, err
	}
	return replayed, stored, setWatermark(ctx, tx, end)
}
