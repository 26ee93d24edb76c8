package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Erasure on Postgres, as on SQLite: it reaches the record state, the
// changeset log (redactHistory), quarantined changesets, and through purge
// notices every phone that holds the record; each erasure is written to the
// ledger (ids and times). What an erasure changes is the domain's
// (domain.Erasure); this file is its SQL. Records are read under their row
// locks (applier.get), so an erasure and a phone's push to the same record
// on another node take turns; whichever comes second sees the other.
//
// The ledger lives in the database only: a database restored from a dump
// taken before an erasure gets it back with ReapplyLedger (docs/postgres.md).

// privacyState is an applier's erasure bookkeeping.
type privacyState struct {
	kind     string // why records are erased (domain.Erasure*); "" = a request
	reapply  bool   // applying ledger entries again: not written twice
	notified int    // phones told to purge
}

func (a *applier) erasureKind() string {
	if a.pv.kind != "" {
		return a.pv.kind
	}
	return domain.ErasureByRequest
}

// getLive is the record as it stands in this transaction (nil if absent).
func (a *applier) getLive(id syncengine.RecordID) (*syncengine.Record, error) {
	c, err := a.get(id)
	if err != nil || !c.exists {
		return nil, err
	}
	return c.rec, nil
}

// recordLedger stores ledger entries.
func (a *applier) recordLedger(entries []domain.LedgerEntry) error {
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := a.tx.Exec(a.ctx, `INSERT INTO erasure_ledger (at, record_id, kind, reason, entry) VALUES ($1, $2, $3, $4, $5::text::jsonb)
			ON CONFLICT (record_id, kind, at) DO NOTHING`, e.At, e.Record, e.Kind, e.Reason, string(b)); err != nil {
			return err
		}
		if e.Kind == "erase" {
			a.noteLedgered(syncengine.RecordID(e.Record))
		}
	}
	return nil
}

// afterErase runs in the transaction that erased ids, whoever erased them
// (the portal, a supervisor's phone, retention): ledger, quarantined copies,
// concern notes, and notices to the phones that hold them.
func (a *applier) afterErase(ids []syncengine.RecordID) error {
	// Its queries read changeset_records and the audit: the pending rows first.
	if err := a.flushRecords(); err != nil {
		return err
	}
	if err := a.tx.flushAudit(a.ctx); err != nil {
		return err
	}
	strs := make([]string, len(ids))
	var entries []domain.LedgerEntry
	for i, id := range ids {
		strs[i] = string(id)
		entries = append(entries, domain.LedgerEntry{At: a.tx.now, Record: string(id), Kind: "erase", Reason: a.erasureKind()})
	}
	if !a.pv.reapply {
		if err := a.recordLedger(entries); err != nil {
			return err
		}
	}
	if err := a.purgeQuarantine(strs); err != nil {
		return err
	}
	if err := forgetTextCompaction(a.ctx, a.tx, strs); err != nil {
		return err
	}
	// An acknowledgement's note is a copy of what the encounter was about.
	if _, err := a.tx.Exec(a.ctx, `UPDATE concern_alerts SET ack_note = '' WHERE ack_note <> '' AND encounter_id = ANY($1::text[])`, strs); err != nil {
		return err
	}
	return a.notifyHolders(strs)
}

// recordsHistorySQL reads the stored changesets touching any of $1, once
// each, each by its key (see recordHistorySQL).
const recordsHistorySQL = `SELECT cr.seq, c.body FROM (SELECT DISTINCT seq FROM changeset_records WHERE record_id = ANY($1::text[])) cr
	CROSS JOIN LATERAL (SELECT c.body FROM changesets c WHERE c.seq = cr.seq OFFSET 0) c`

// purgeCopies scrubs every stored and quarantined changeset that touches ids
// against the records as they stand now.
func (a *applier) purgeCopies(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := a.flushRecords(); err != nil {
		return err
	}
	if err := a.scrubStored(ids, recordsHistorySQL, `UPDATE changesets SET body = $1 WHERE seq = $2`, ids); err != nil {
		return err
	}
	return a.purgeQuarantine(ids)
}

// purgeQuarantine scrubs quarantined changesets (refused or held pushes)
// that touch ids: they are copies too.
func (a *applier) purgeQuarantine(ids []string) error {
	return a.scrubStored(ids, `SELECT id, body FROM quarantine WHERE body IS NOT NULL FOR UPDATE`, `UPDATE quarantine SET body = $1 WHERE id = $2`)
}

func (a *applier) scrubStored(ids []string, selectSQL, updateSQL string, args ...any) error {
	type item struct {
		key  int64
		body []byte
	}
	rows, err := a.tx.Query(a.ctx, selectSQL, args...)
	items, err := collect(rows, err, func(r pgx.Rows) (it item, err error) { return it, r.Scan(&it.key, &it.body) })
	if err != nil {
		return err
	}
	current := func(id syncengine.RecordID) *syncengine.Record {
		r, _ := a.getLive(id)
		return r
	}
	for _, it := range items {
		if out, changed := domain.ScrubBody(it.body, ids, current); changed {
			if _, err := a.tx.Exec(a.ctx, updateSQL, out, it.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdersSQL lists the devices that pushed or were sent any of $1; each
// changeset is read by its key (see recordHistorySQL).
const holdersSQL = `SELECT DISTINCT c.device_id, cr.record_id FROM changeset_records cr
		CROSS JOIN LATERAL (SELECT c.device_id FROM changesets c WHERE c.seq = cr.seq OFFSET 0) c
		WHERE cr.record_id = ANY($1::text[]) AND c.device_id IS NOT NULL
		UNION SELECT DISTINCT a.device_id, j FROM audit_log a, jsonb_array_elements_text(a.detail -> 'records') j
		WHERE a.action = 'sync' AND a.device_id IS NOT NULL AND (a.detail -> 'records') ?| $1::text[] AND j = ANY($1::text[])`

// notifyHolders tells every phone that may hold ids to purge them: phones
// that pushed changes to them, phones whose pulls received them (the pull
// audit, through its index on the records list), and phones whose scope
// includes them now.
func (a *applier) notifyHolders(ids []string) error {
	devs := map[string]map[string]bool{}
	add := func(dev, rec string) {
		if devs[dev] == nil {
			devs[dev] = map[string]bool{}
		}
		devs[dev][rec] = true
	}
	type held struct{ dev, rec string }
	rows, err := a.tx.Query(a.ctx, holdersSQL, ids)
	got, err := collect(rows, err, func(r pgx.Rows) (h held, err error) { return h, r.Scan(&h.dev, &h.rec) })
	if err != nil {
		return err
	}
	for _, h := range got {
		add(h.dev, h.rec)
	}
	rows, err = a.tx.Query(a.ctx, `SELECT id, person_id FROM devices WHERE status = 'active'`)
	active, err := collect(rows, err, func(r pgx.Rows) (x domain.DeviceOwner, err error) { return x, r.Scan(&x.Device, &x.Person) })
	if err != nil {
		return err
	}
	if err := domain.Holders(devs, active, ids, func(id string) (domain.Scope, bool, error) {
		p, err := findPerson(a.ctx, a.tx, "id = $1", id)
		if err != nil {
			return domain.Scope{}, false, nil
		}
		s, err := scopeOf(a.ctx, a.tx, p)
		return s, true, err
	}, func(id string) (*domain.Stored, error) { return a.Stored(syncengine.RecordID(id)) }); err != nil {
		return err
	}
	for dev, recs := range devs {
		for rec := range recs {
			// A device row removed since: nothing to tell.
			if _, err := a.tx.Exec(a.ctx, `INSERT INTO purge_notices (record_id, device_id, notified_at)
				SELECT $1, id, $3 FROM devices WHERE id = $2
				ON CONFLICT (device_id, record_id) DO UPDATE SET notified_at = excluded.notified_at, confirmed_at = NULL`,
				rec, dev, a.tx.now); err != nil {
				return err
			}
		}
	}
	a.pv.notified += len(devs)
	return nil
}

// PurgeNotices lists the phones told to purge records (all if ids is empty).
func (db *DB) PurgeNotices(ctx context.Context, ids []string) ([]domain.PurgeNotice, error) {
	rows, err := db.pool.Query(ctx, `SELECT n.record_id, n.device_id, COALESCE(d.person_id, ''), n.notified_at, n.confirmed_at
		FROM purge_notices n LEFT JOIN devices d ON d.id = n.device_id
		WHERE cardinality($1::text[]) = 0 OR n.record_id = ANY($1::text[]) ORDER BY n.device_id, n.record_id`, ids)
	return collect(rows, err, func(r pgx.Rows) (n domain.PurgeNotice, err error) {
		var confirmed *time.Time
		err = r.Scan(&n.RecordID, &n.DeviceID, &n.PersonID, &n.NotifiedAt, &confirmed)
		n.NotifiedAt, n.ConfirmedAt = n.NotifiedAt.UTC(), tm(confirmed)
		return n, err
	})
}

// Ledger lists the erasure ledger, oldest first (to keep outside the
// database, and to apply again after a restore: ReapplyLedger).
func (db *DB) Ledger(ctx context.Context) ([]domain.LedgerEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT entry::text FROM erasure_ledger ORDER BY id`)
	return collect(rows, err, func(r pgx.Rows) (e domain.LedgerEntry, err error) {
		var s string
		if err = r.Scan(&s); err != nil {
			return e, err
		}
		return e, json.Unmarshal([]byte(s), &e)
	})
}

// Erase carries out an erasure request in one transaction (see
// domain.Erasure); the changes are authored by a replica made for this
// erasure alone.
func (db *DB) Erase(ctx context.Context, req domain.ErasureRequest) (domain.ErasureResult, error) {
	var res domain.ErasureResult
	if err := domain.CheckErasure(&req); err != nil {
		return res, err
	}
	err := db.update(ctx, func(tx *Tx) (err error) { res, err = eraseTx(ctx, tx, req, nil); return err })
	if err == nil {
		db.poke(ctx, res.Touched)
	}
	return res, err
}

// ReapplyLedger applies ledger entries again (kept outside a database that
// was then restored from before them): records the database shows
// unerased are erased, redactions done again. Entries already applied
// change nothing.
func (db *DB) ReapplyLedger(ctx context.Context, entries []domain.LedgerEntry) (domain.ErasureResult, error) {
	var res domain.ErasureResult
	if len(entries) == 0 {
		return res, nil
	}
	err := db.update(ctx, func(tx *Tx) (err error) {
		ap := newApplier(ctx, tx)
		if err := ap.recordLedger(entries); err != nil {
			return err
		}
		res, err = eraseTx(ctx, tx, domain.ReapplyRequest(entries), entries)
		return err
	})
	if err == nil {
		db.poke(ctx, res.Touched)
	}
	return res, err
}

func eraseTx(ctx context.Context, tx *Tx, req domain.ErasureRequest, ledger []domain.LedgerEntry) (domain.ErasureResult, error) {
	var res domain.ErasureResult
	ap := newApplier(ctx, tx)
	ap.pv = privacyState{kind: req.Kind, reapply: ledger != nil}
	er := &domain.Erasure{Req: req, Ledger: ledger, Get: ap.getLive}
	if ledger == nil {
		var held string
		err := tx.QueryRow(ctx, `SELECT record_id FROM legal_holds WHERE record_id = ANY($1::text[]) ORDER BY record_id LIMIT 1`,
			domain.ErasureTargets(req)).Scan(&held)
		if err == nil {
			return res, domain.ErrLegalHold(held)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return res, err
		}
	}
	if err := er.Check(); errors.Is(err, domain.ErrNothingToErase) {
		return res, nil
	} else if err != nil {
		return res, err
	}
	id, err := syncengine.NewReplicaID(tx.db.Rand)
	if err != nil {
		return res, err
	}
	st := &serverStore{ap: ap, id: id} // one-off: no prefix, no stored counter
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: tx.Now, Rand: tx.db.Rand, Store: st})
	if err != nil {
		return res, err
	}
	if err := er.Run(rep, tx.now); err != nil {
		return res, err
	}
	entries, redacted := er.Entries, er.Redacted
	// The redacted encounters: the deleted words' bytes leave the state and
	// every stored copy of the changesets that typed them.
	for _, rid := range redacted {
		c, err := ap.get(syncengine.RecordID(rid))
		if err != nil {
			return res, err
		}
		rec := c.rec.Clone()
		rec.PurgeDeletedText()
		if _, err := tx.Exec(ctx, `UPDATE records SET state = $1 WHERE id = $2`, syncengine.EncodeRecord(rec), rid); err != nil {
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
	res.Erased, res.Redacted, res.Devices, res.Touched = er.Erased, redacted, ap.pv.notified, st.res.Touched
	if e, ok := er.Audit(res.Devices); ok {
		if err := appendAudit(ctx, tx, e); err != nil {
			return res, err
		}
	}
	return res, nil
}

// erasedInLedger reports whether the ledger says id was erased.
func (a *applier) erasedInLedger(id syncengine.RecordID) (bool, error) {
	if yes, ok := a.ledgerLookup(id); ok {
		return yes, nil
	}
	var yes bool
	err := a.tx.QueryRow(a.ctx, `SELECT EXISTS (SELECT 1 FROM erasure_ledger WHERE record_id = $1 AND kind = 'erase')`, string(id)).Scan(&yes)
	return yes, err
}

// redactLedgered, before a pushed changeset is applied: ops on records the
// ledger says were erased become redaction placeholders, so a phone that
// sends old work again cannot bring erased content back.
func (a *applier) redactLedgered(cs *syncengine.Changeset) (*syncengine.Changeset, error) {
	erased := map[syncengine.RecordID]bool{}
	for _, id := range cs.Records() {
		yes, err := a.erasedInLedger(id)
		if err != nil {
			return nil, err
		}
		erased[id] = yes
	}
	out, _ := syncengine.RedactChangeset(cs, func(id syncengine.RecordID) bool { return erased[id] })
	return out, nil
}

// checkRedactions refuses redaction placeholders on records that were never
// erased: applying one erases the record, so a device could otherwise
// destroy any record it may write.
func (a *applier) checkRedactions(cs *syncengine.Changeset) error {
	for _, op := range cs.Ops {
		if op.Kind != syncengine.OpRedacted {
			continue
		}
		r, err := a.getLive(op.Record)
		if err != nil {
			return err
		}
		if r != nil && r.Erased != nil {
			continue
		}
		if yes, err := a.erasedInLedger(op.Record); err != nil {
			return err
		} else if !yes {
			return domain.Errorf(domain.EFORBIDDEN, "authorise changeset", "record %s was not erased: only an erasure may remove its content", op.Record)
		}
	}
	return nil
}

// YoungPersonRecords lists every record about a young person, erased ones
// included: the profile, referrals and follow-ups that name them, and
// encounters whose young_people include them.
func (db *DB) YoungPersonRecords(ctx context.Context, ypID string) ([]string, error) {
	var out []string
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM records WHERE id = $1 OR young_person_id = $1`, ypID)
		ids, err := collect(rows, err, func(r pgx.Rows) (s string, err error) { return s, r.Scan(&s) })
		if err != nil {
			return err
		}
		out = ids
		rows, err = tx.Query(ctx, `SELECT id, state FROM records WHERE type = $1 AND NOT erased`, syncengine.TypeEncounter)
		encs, err := collect(rows, err, func(r pgx.Rows) (x domain.StoredRecord, err error) { return x, r.Scan(&x.ID, &x.State) })
		if err != nil {
			return err
		}
		for _, e := range encs {
			if r, err := syncengine.DecodeRecord(e.State); err == nil && slices.Contains(domain.LinkedYoungPeople(r), ypID) {
				out = append(out, e.ID)
			}
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// accessHistorySQL reads the audit rows naming any of $1, through the
// indexes on record_id and on the detail's records list (plan_test.go).
const accessHistorySQL = `SELECT id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''),
		COALESCE(detail -> 'records', '[]')::text
	FROM audit_log
	WHERE action IN ('sync', 'read', 'export') AND (record_id = ANY($1::text[]) OR (detail -> 'records') ?| $1::text[])
	ORDER BY id`

// AccessHistory lists, oldest first, every time a person or device received
// or opened any of ids (the audit log's pulls, pages and exports).
func (db *DB) AccessHistory(ctx context.Context, ids []string) ([]domain.Access, error) {
	out := []domain.Access{}
	if len(ids) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	rows, err := db.pool.Query(ctx, accessHistorySQL, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var at time.Time
		var person, device, action, record, recs string
		if err := rows.Scan(&id, &at, &person, &device, &action, &record, &recs); err != nil {
			return nil, err
		}
		var list []string
		_ = json.Unmarshal([]byte(recs), &list)
		out = append(out, domain.AccessOf(id, at.UTC(), person, device, action, record, list, want))
	}
	return out, rows.Err()
}
