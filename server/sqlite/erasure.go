package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Erasure reaches every copy the server holds: the record state, the
// changeset log (redactHistory), quarantined changesets, and (through purge
// notices in the sync response) every phone that holds the record. Each
// erasure is written to a ledger of ids and times, kept both in the database
// and in a file beside it (<db>.erasures) that a restore does not replace:
// Open applies every ledger entry again, so a backup from before an erasure
// never brings the erased data back. secure_delete is on for every
// connection and the WAL is truncated after an erasure, so freed pages do
// not keep the erased bytes either.

// RedactedMarker replaces the words a redaction removes from an encounter.
const RedactedMarker = domain.RedactedMarker

// LedgerPath is the erasure ledger file that outlives restores.
func (db *DB) LedgerPath() string { return db.Path + ".erasures" }

// appendLedgerFile appends entries to the ledger file and syncs it. It runs
// inside the erasure's transaction, before the commit: an erasure that was
// asked for is then done again at the next Open even if the commit is lost.
func (db *DB) appendLedgerFile(entries []domain.LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	f, err := os.OpenFile(db.LedgerPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open erasure ledger: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write erasure ledger: %w", err)
	}
	return f.Sync()
}

// backupLedger copies the ledger beside a backup (<backup>.erasures): a
// machine rebuilt from backups alone still knows every erasure made before
// the backup. A newer ledger (the live one) always wins on restore.
func (db *DB) backupLedger(backup string) error {
	b, err := os.ReadFile(db.LedgerPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("back up erasure ledger: %w", err)
	}
	if err := os.WriteFile(backup+".erasures", b, 0o600); err != nil {
		return fmt.Errorf("back up erasure ledger: %w", err)
	}
	return nil
}

// readLedgerFile reads the ledger file (absent: empty). A torn last line (a
// crash mid-write) is skipped.
func (db *DB) readLedgerFile() ([]domain.LedgerEntry, error) {
	b, err := os.ReadFile(db.LedgerPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read erasure ledger: %w", err)
	}
	var out []domain.LedgerEntry
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e domain.LedgerEntry
		if json.Unmarshal([]byte(line), &e) != nil || e.Record == "" {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// recordLedger stores entries in the database copy and the file.
func (a *applier) recordLedger(entries []domain.LedgerEntry) error {
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := a.tx.ExecContext(a.ctx, `INSERT OR IGNORE INTO erasure_ledger (at, record_id, kind, reason, entry) VALUES (?, ?, ?, ?, ?)`,
			formatTime(e.At), e.Record, e.Kind, e.Reason, string(b)); err != nil {
			return err
		}
		if e.Kind == "erase" {
			a.noteLedgered(syncengine.RecordID(e.Record))
		}
	}
	if a.pv.noLedgerFile {
		return nil
	}
	return a.tx.db.appendLedgerFile(entries)
}

// afterErase runs in the transaction that erased ids (whoever erased them:
// the portal, a supervisor's phone, retention, a re-application): ledger,
// quarantined copies, and notices to the phones that hold them.
func (a *applier) afterErase(ids []syncengine.RecordID) error {
	defer a.forgetPrefetched() // the log's bodies and the quarantine changed under them
	var entries []domain.LedgerEntry
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = string(id)
		entries = append(entries, domain.LedgerEntry{At: a.tx.now, Record: string(id), Kind: "erase", Reason: a.erasureKind()})
	}
	if err := a.recordLedger(entries); err != nil {
		return err
	}
	if err := a.purgeQuarantine(strs); err != nil {
		return err
	}
	if err := forgetTextCompaction(a.ctx, a.tx, strs); err != nil {
		return err
	}
	// A concern acknowledgement's note is a copy of what the encounter was
	// about; who acknowledged it and when stay.
	wanted, _ := json.Marshal(strs)
	if _, err := a.tx.ExecContext(a.ctx, `UPDATE concern_alerts SET ack_note = '' WHERE ack_note != ''
		AND encounter_id IN (SELECT value FROM json_each(?))`, string(wanted)); err != nil {
		return err
	}
	a.tx.erased()
	return a.notifyHolders(strs)
}

func (a *applier) erasureKind() string {
	if a.pv.kind != "" {
		return a.pv.kind
	}
	return domain.ErasureByRequest
}

// purgeCopies scrubs every stored changeset and quarantined changeset that
// touches ids against the records as they stand now (erased: ops redacted;
// redacted: deleted text overwritten).
func (a *applier) purgeCopies(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	wanted, _ := json.Marshal(ids)
	if err := a.scrubStored(ids, `SELECT seq, body FROM changesets WHERE seq IN
		(SELECT seq FROM changeset_records WHERE record_id IN (SELECT value FROM json_each(?)))`,
		`UPDATE changesets SET body = ? WHERE seq = ?`, string(wanted)); err != nil {
		return err
	}
	return a.purgeQuarantine(ids)
}

// purgeQuarantine scrubs quarantined changesets (refused or held pushes)
// that touch ids: they are copies too.
func (a *applier) purgeQuarantine(ids []string) error {
	return a.scrubStored(ids, `SELECT id, body FROM quarantine`, `UPDATE quarantine SET body = ? WHERE id = ?`)
}

// scrubStored rewrites the changeset bodies selected as (key, body) that
// touch ids (syncengine.PurgeChangeset against the current states).
func (a *applier) scrubStored(ids []string, selectSQL, updateSQL string, args ...any) error {
	rows, err := a.tx.QueryContext(a.ctx, selectSQL, args...)
	type item struct {
		key  int64
		body []byte
	}
	items, err := collect(rows, err, func(r *sql.Rows) (it item, err error) { return it, r.Scan(&it.key, &it.body) })
	if err != nil {
		return err
	}
	for _, it := range items {
		if out, changed := domain.ScrubBody(it.body, ids, a.current); changed {
			if _, err := a.tx.ExecContext(a.ctx, updateSQL, out, it.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// current is a record as it stands in this transaction (nil if absent or unreadable).
func (a *applier) current(id syncengine.RecordID) *syncengine.Record {
	c, err := a.get(id)
	if err != nil {
		return nil
	}
	return c.rec
}

// notifyHolders tells every phone that may hold ids to purge them: phones
// that pushed changes to them, phones whose pulls received them (the
// per-record pull audit), and phones whose scope includes them now.
func (a *applier) notifyHolders(ids []string) error {
	devs := map[string]map[string]bool{} // device -> records
	add := func(dev, rec string) {
		if devs[dev] == nil {
			devs[dev] = map[string]bool{}
		}
		devs[dev][rec] = true
	}
	// One pass over the log and the pull audit for all ids (the rows a
	// sync keeps for later are written first).
	if err := a.tx.flushAudit(a.ctx); err != nil {
		return err
	}
	wanted, _ := json.Marshal(ids)
	rows, err := a.tx.QueryContext(a.ctx, `WITH wanted(id) AS (SELECT value FROM json_each(?))
		SELECT DISTINCT c.device_id, cr.record_id FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq
		WHERE cr.record_id IN (SELECT id FROM wanted) AND c.device_id IS NOT NULL
		UNION SELECT DISTINCT a.device_id, j.value FROM audit_log a, json_each(a.detail, '$.records') j
		WHERE a.action = 'sync' AND a.device_id IS NOT NULL AND j.value IN (SELECT id FROM wanted)`, string(wanted))
	type held struct{ dev, rec string }
	got, err := collect(rows, err, func(r *sql.Rows) (h held, err error) { return h, r.Scan(&h.dev, &h.rec) })
	if err != nil {
		return err
	}
	for _, h := range got {
		add(h.dev, h.rec)
	}
	// Phones whose scope holds the records now (they may have received them
	// before pulls were audited per record).
	rows, err = a.tx.QueryContext(a.ctx, `SELECT d.id, d.person_id FROM devices d WHERE d.status = 'active'`)
	active, err := collect(rows, err, func(r *sql.Rows) (x domain.DeviceOwner, err error) { return x, r.Scan(&x.Device, &x.Person) })
	if err != nil {
		return err
	}
	if err := domain.Holders(devs, active, ids, func(id string) (domain.Scope, bool, error) {
		p, err := findPerson(a.ctx, a.tx, "id = ?", id)
		if err != nil {
			return domain.Scope{}, false, nil
		}
		s, err := scopeOf(a.ctx, a.tx, p)
		return s, true, err
	}, func(id string) (*domain.Stored, error) {
		c, err := a.get(syncengine.RecordID(id))
		if err != nil {
			return nil, err
		}
		return &domain.Stored{Rec: c.rec, Team: c.team, Service: c.service, YP: c.yp, Exists: c.exists}, nil
	}); err != nil {
		return err
	}
	for dev, recs := range devs {
		var exists int
		if err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM devices WHERE id = ?`, dev).Scan(&exists); err != nil {
			return err
		} else if exists == 0 {
			continue
		}
		for rec := range recs {
			if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO purge_notices (record_id, device_id, notified_at) VALUES (?, ?, ?)
				ON CONFLICT (device_id, record_id) DO UPDATE SET notified_at = excluded.notified_at, confirmed_at = NULL`,
				rec, dev, a.tx.NowText()); err != nil {
				return err
			}
		}
	}
	a.pv.notified += len(devs)
	return nil
}

// syncPurges, inside a device's sync: records the purges the device
// confirms, then lists what it still has to purge.
func syncPurges(ctx context.Context, tx *Tx, req domain.SyncRequest, res *domain.SyncResult) error {
	confirmed := 0
	for _, id := range req.Purged {
		r, err := tx.ExecContext(ctx, `UPDATE purge_notices SET confirmed_at = ? WHERE device_id = ? AND record_id = ? AND confirmed_at IS NULL`,
			tx.NowText(), req.Device.ID, id)
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		confirmed += int(n)
	}
	if confirmed > 0 {
		if err := appendAudit(ctx, tx, domain.ConfirmedPurgeAudit(req)); err != nil {
			return err
		}
	}
	none := tx.noPurgesFor == req.Device.ID
	tx.noPurgesFor = ""
	if none {
		res.Erase = nil
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT record_id FROM purge_notices WHERE device_id = ? AND confirmed_at IS NULL ORDER BY record_id LIMIT 1000`, req.Device.ID)
	ids, err := collect(rows, err, func(r *sql.Rows) (s string, err error) { return s, r.Scan(&s) })
	if err != nil {
		return err
	}
	res.Erase = ids
	return nil
}

// PurgeNotices lists the phones told to purge records (all if ids is empty),
// with when they confirmed.
func (db *DB) PurgeNotices(ctx context.Context, ids []string) ([]domain.PurgeNotice, error) {
	var out []domain.PurgeNotice
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT n.record_id, n.device_id, COALESCE(d.person_id, ''), n.notified_at, n.confirmed_at
			FROM purge_notices n LEFT JOIN devices d ON d.id = n.device_id ORDER BY n.device_id, n.record_id`)
		got, err := collect(rows, err, func(r *sql.Rows) (n domain.PurgeNotice, err error) {
			var at string
			err = r.Scan(&n.RecordID, &n.DeviceID, &n.PersonID, &at, nullTime{&n.ConfirmedAt})
			n.NotifiedAt = parseTime(at)
			return n, err
		})
		if err != nil {
			return err
		}
		for _, n := range got {
			if len(ids) == 0 || slices.Contains(ids, n.RecordID) {
				out = append(out, n)
			}
		}
		return nil
	})
	return out, err
}

// Ledger lists the erasure ledger (the database's copy), oldest first.
func (db *DB) Ledger(ctx context.Context) ([]domain.LedgerEntry, error) {
	var out []domain.LedgerEntry
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT entry FROM erasure_ledger ORDER BY id`)
		got, err := collect(rows, err, func(r *sql.Rows) (s string, err error) { return s, r.Scan(&s) })
		if err != nil {
			return err
		}
		for _, s := range got {
			var e domain.LedgerEntry
			if json.Unmarshal([]byte(s), &e) == nil {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// Erase carries out an erasure request in one transaction: the records in
// req.Erase are erased (their history redacted), and each encounter in
// req.Redact loses its link to the young person and the named words from its
// narrative text, in history too. The changes are authored by a replica made
// for this erasure alone (a fresh id: after a restore no counter can be
// reused). The WAL is truncated afterwards.
func (db *DB) Erase(ctx context.Context, req domain.ErasureRequest) (domain.ErasureResult, error) {
	var res domain.ErasureResult
	if err := domain.CheckErasure(&req); err != nil {
		return res, err
	}
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		res, err = eraseTx(ctx, tx, req, nil)
		return err
	})
	if err != nil {
		return res, err
	}
	db.checkpointAfterErasure(ctx)
	return res, nil
}

// getter is the applier's current record (nil if absent), for domain.Erasure.
func (a *applier) getLive(id syncengine.RecordID) (*syncengine.Record, error) {
	c, err := a.get(id)
	if err != nil || !c.exists {
		return nil, err
	}
	return c.rec, nil
}

// eraseTx does an erasure inside tx (domain.Erasure decides what changes).
// ledger, when set, is the ledger entries being applied again (not written
// to the ledger twice).
func eraseTx(ctx context.Context, tx *Tx, req domain.ErasureRequest, ledger []domain.LedgerEntry) (domain.ErasureResult, error) {
	var res domain.ErasureResult
	ap := newApplier(ctx, tx)
	ap.pv = privacyState{kind: req.Kind, noLedgerFile: ledger != nil}
	id, err := syncengine.NewReplicaID(tx.db.Rand)
	if err != nil {
		return res, err
	}
	st := &ServerStore{db: tx.db, ctx: ctx, ap: ap, id: id} // one-off: no prefix, no stored counter
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: tx.Now, Rand: tx.db.Rand, Store: st})
	if err != nil {
		return res, err
	}
	er := &domain.Erasure{Req: req, Ledger: ledger, Get: ap.getLive}
	if ledger == nil {
		if err := checkLegalHolds(ctx, tx, req); err != nil {
			return res, err
		}
	}
	if err := er.Check(); errors.Is(err, domain.ErrNothingToErase) {
		return res, nil
	} else if err != nil {
		return res, err
	}
	if err := er.Run(rep, tx.now); err != nil {
		return res, err
	}
	entries, redacted := er.Entries, er.Redacted
	// The redacted encounters: drop the deleted words' bytes from the state
	// and from every stored copy of the changesets that typed them.
	for _, rid := range redacted {
		c, err := ap.get(syncengine.RecordID(rid))
		if err != nil {
			return res, err
		}
		rec := c.rec.Clone()
		rec.PurgeDeletedText()
		if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ? WHERE id = ?`, syncengine.EncodeRecord(rec), rid); err != nil {
			return res, err
		}
		c.rec = rec
	}
	if err := ap.purgeCopies(redacted); err != nil {
		return res, err
	}
	if ledger == nil {
		if err := ap.recordLedger(entries); err != nil {
			return res, err
		}
	}
	if len(redacted) > 0 {
		if err := ap.notifyHolders(redacted); err != nil {
			return res, err
		}
	}
	res.Erased, res.Redacted = er.Erased, redacted
	res.Devices = ap.pv.notified
	res.Touched = st.res.Touched
	if e, ok := er.Audit(res.Devices); ok {
		if err := appendAudit(ctx, tx, e); err != nil {
			return res, err
		}
	}
	tx.erased()
	return res, nil
}

// checkLegalHolds refuses an erasure that would touch a record under a
// legal hold (a court or regulator needs it kept; retention skips them too).
// Applying the ledger again is exempt: those erasures already happened.
func checkLegalHolds(ctx context.Context, tx *Tx, req domain.ErasureRequest) error {
	b, _ := json.Marshal(domain.ErasureTargets(req))
	var held string
	err := tx.QueryRowContext(ctx, `SELECT record_id FROM legal_holds WHERE record_id IN (SELECT value FROM json_each(?)) ORDER BY record_id LIMIT 1`, string(b)).Scan(&held)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return domain.ErrLegalHold(held)
}

// privacyState is an applier's erasure bookkeeping.
type privacyState struct {
	kind         string // why records are erased (domain.Erasure*); "" = a request
	noLedgerFile bool   // applying the ledger file again: do not append to it
	notified     int    // phones told to purge
}

// checkpointAfterErasure folds the WAL into the database and truncates it,
// so the erased bytes no longer sit in old WAL frames (secure_delete has
// zeroed them in the database's freed pages). A reader holding an old
// snapshot can make it partial; the next erasure or Close tries again.
func (db *DB) checkpointAfterErasure(ctx context.Context) {
	if !db.erasedSince.Swap(false) {
		return
	}
	db.decoded.clear()
	for i := 0; i < 5; i++ {
		var busy, logFrames, done int
		if err := db.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil || busy == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reapplyLedger, on Open: every erasure in the ledger file is done again if
// the database does not show it (it was restored from a backup taken
// before). Records the backup does not have yet are erased when a phone
// pushes them (redactLedgered).
func (db *DB) reapplyLedger(ctx context.Context) error {
	entries, err := db.readLedgerFile()
	if err != nil || len(entries) == 0 {
		return err
	}
	var res domain.ErasureResult
	err = db.update(ctx, func(tx *Tx) error {
		ap := newApplier(ctx, tx)
		ap.pv = privacyState{noLedgerFile: true}
		if err := ap.recordLedger(entries); err != nil {
			return err
		}
		res, err = eraseTx(ctx, tx, domain.ReapplyRequest(entries), entries)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply erasure ledger again: %w", err)
	}
	if len(res.Erased)+len(res.Redacted) > 0 {
		db.erasedSince.Store(true)
		db.checkpointAfterErasure(ctx)
	}
	return nil
}

// redactLedgered, before a pushed changeset is applied: ops on records the
// ledger says were erased become redaction placeholders, so a phone that
// sends old work again (after a restore, or after being offline) cannot
// bring erased content back into the state or the log.
func (a *applier) redactLedgered(cs *syncengine.Changeset) (*syncengine.Changeset, error) {
	erased := map[syncengine.RecordID]bool{}
	for _, id := range cs.Records() {
		if e, ok := a.ledgerLookup(id); ok {
			if e {
				erased[id] = true
			}
			continue
		}
		var n int
		if err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM erasure_ledger WHERE record_id = ? AND kind = 'erase'`, string(id)).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			erased[id] = true
		}
	}
	if len(erased) == 0 {
		return cs, nil
	}
	out, _ := syncengine.RedactChangeset(cs, func(id syncengine.RecordID) bool { return erased[id] })
	return out, nil
}

// checkRedactions refuses redaction placeholders on records that were never
// erased: applying one erases the record (the engine takes it as the sign
// that an erasure is on its way), so a device could otherwise destroy any
// record it may write. Placeholders are legitimate only on a record already
// erased here or named by the ledger (a phone's scrubbed outbox, old work
// sent again after a restore).
func (a *applier) checkRedactions(cs *syncengine.Changeset) error {
	for _, op := range cs.Ops {
		if op.Kind != syncengine.OpRedacted {
			continue
		}
		c, err := a.get(op.Record)
		if err != nil {
			return err
		}
		if c.rec != nil && c.rec.Erased != nil {
			continue
		}
		var n int
		if err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM erasure_ledger WHERE record_id = ? AND kind = 'erase'`, string(op.Record)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return domain.Errorf(domain.EFORBIDDEN, "authorise changeset", "record %s was not erased: only an erasure may remove its content", op.Record)
		}
	}
	return nil
}

// openPrivacy, on Open: chain audit rows written before the chain existed,
// and apply the erasure ledger again (after a restore it brings the
// database back to what was erased).
func (db *DB) openPrivacy(ctx context.Context) error {
	// Rows without a hash exist only in a database older than the chain:
	// sealed once, then every append chains itself.
	if err := db.update(ctx, func(tx *Tx) error {
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE key = 'audit_chained'`).Scan(&done); err != nil || done > 0 {
			return err
		}
		if err := sealAuditChain(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('audit_chained', '1')`)
		return err
	}); err != nil {
		return fmt.Errorf("chain audit log: %w", err)
	}
	return db.reapplyLedger(ctx)
}

// sentRecords is the pull audit's list of records a page carried: each once, sorted.
func sentRecords(res *domain.SyncResult) []string {
	ids := slices.Clone(res.SentRecords)
	slices.Sort(ids)
	return slices.Compact(ids)
}
