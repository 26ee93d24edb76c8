package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Bounds on what one device can make the server keep of the changesets it
// refused. A held changeset (waiting for a missing dependency) must keep its
// body to be retried, so beyond its bound it is refused and not stored (the
// phone keeps it); a changeset refused for any other reason keeps its body
// only within the bound, and beyond it its digest and size.
const (
	DefaultHeldMaxCount          = 1000     // open held changesets per device
	DefaultHeldMaxBytes          = 16 << 20 // their bodies, per device
	DefaultQuarantineBodyMax     = 256 << 10
	DefaultQuarantineDeviceBytes = 32 << 20 // bodies of a device's open items, held or not
)

// bounds are the DB's bounds in the domain's terms (domain.QuarantineBounds).
func (db *DB) bounds() domain.QuarantineBounds {
	return domain.QuarantineBounds{HeldMaxCount: db.HeldMaxCount, HeldMaxBytes: db.HeldMaxBytes, BodyMax: db.QuarantineBodyMax,
		DeviceBytes: db.QuarantineDeviceBytes}
}

// openItem looks cs up in the device's own open quarantine. A changeset
// already refused is answered as before (done); one held for a missing
// dependency is returned (heldID) to be tried again.
func (a *applier) openItem(dev domain.Device, cs *syncengine.Changeset, pr *protocol.PushResult, res *domain.SyncResult) (heldID int64, done bool, err error) {
	var id int64
	var code, msg string
	if q, found, ok := a.quarantineLookup(csKey{pr.Replica, cs.Start}); !ok {
		err = a.tx.QueryRowContext(a.ctx, `SELECT id, code, message FROM quarantine
			WHERE device_id = ? AND replica_id = ? AND start = ? AND reviewed_at IS NULL`, dev.ID, pr.Replica, cs.Start).Scan(&id, &code, &msg)
	} else if !found {
		err = sql.ErrNoRows
	} else {
		id, code, msg = q.id, q.code, q.message
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, true, err
	case code == domain.EMISSINGDEP:
		return id, false, nil
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, code, msg
	res.Quarantined++
	return 0, true, nil
}

// hold keeps a changeset whose dependencies have not arrived, indexed by
// what it waits for. It is audited once, when first held; a retry that
// finds it still waiting only re-indexes it. Beyond the device's bound it
// is refused and not stored.
//
// missing nil means a record it touches is damaged on the server (see
// errDamaged): it waits for any change to, or repair of, those records.
func (a *applier) hold(dev domain.Device, cs *syncengine.Changeset, pr protocol.PushResult, heldID int64, missing []syncengine.Dep, res *domain.SyncResult) (protocol.PushResult, error) {
	msg := domain.HeldMessage(missing)
	if heldID == 0 {
		body := syncengine.EncodeChangeset(cs)
		u, err := a.usage(dev.ID)
		if err != nil {
			return pr, err
		}
		if err := u.Hold(a.tx.db.bounds(), int64(len(body))); err != nil {
			pr.Status, pr.Code, pr.Message = protocol.StatusRefused, domain.EHELDLIMIT, domain.ErrorMessage(err)
			return pr, nil
		}
		if heldID, err = a.storeItem(dev, pr, cs, domain.EMISSINGDEP, msg, body, body); err != nil {
			return pr, err
		}
		if err := appendAudit(a.ctx, a.tx, domain.AuditEntry{DeviceID: dev.ID, PersonID: dev.PersonID, Action: domain.ActionQuar,
			Detail: map[string]any{"replica": pr.Replica, "start": cs.Start, "code": domain.EMISSINGDEP}}); err != nil {
			return pr, err
		}
	}
	if err := a.indexWaits(heldID, missing); err != nil {
		return pr, err
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, domain.EMISSINGDEP, msg
	res.Quarantined++
	return pr, nil
}

// usage is what a device's open quarantine items hold (domain.QuarantineUsage).
func (a *applier) usage(deviceID string) (*domain.QuarantineUsage, error) {
	if u, ok := a.usages[deviceID]; ok {
		return u, nil
	}
	u := &domain.QuarantineUsage{}
	if err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FILTER (WHERE code = ?), COALESCE(SUM(body_size) FILTER (WHERE code = ?), 0),
		COALESCE(SUM(length(body)), 0) FROM quarantine WHERE device_id = ? AND reviewed_at IS NULL`,
		domain.EMISSINGDEP, domain.EMISSINGDEP, deviceID).Scan(&u.Held, &u.HeldBytes, &u.Kept); err != nil {
		return nil, err
	}
	if a.usages == nil {
		a.usages = map[string]*domain.QuarantineUsage{}
	}
	a.usages[deviceID] = u
	return u, nil
}

// indexWaits records, for a held item, each (record, replica) whose changes
// the server lacks: a record's version vector only grows when a changeset of
// that replica touching it is stored, so that is exactly when to retry.
func (a *applier) indexWaits(heldID int64, missing []syncengine.Dep) error {
	a.noWaits = false
	if _, err := a.tx.ExecContext(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = ?`, heldID); err != nil {
		return err
	}
	anyChange := func(record syncengine.RecordID) error {
		_, err := a.tx.ExecContext(a.ctx, `INSERT OR IGNORE INTO held_waits (record_id, replica_id, quarantine_id) VALUES (?, '*', ?)`,
			string(record), heldID)
		return err
	}
	if missing == nil { // damaged records: wait for any change to, or repair of, what it touches
		var body []byte
		if err := a.tx.QueryRowContext(a.ctx, `SELECT body FROM quarantine WHERE id = ?`, heldID).Scan(&body); err != nil {
			return err
		}
		cs, err := syncengine.DecodeChangeset(body)
		if err != nil {
			return nil
		}
		for _, d := range cs.Deps {
			if err := anyChange(d.Record); err != nil {
				return err
			}
		}
		return nil
	}
	waits, err := domain.HeldWaits(missing, func(id syncengine.RecordID) (syncengine.VV, bool, error) {
		c, err := a.get(id)
		if domain.ErrorCode(err) == domain.EMISSINGDEP { // damaged meanwhile
			return nil, true, nil
		} else if err != nil || c.rec == nil {
			return nil, false, err
		}
		return c.rec.VV, false, nil
	})
	if err != nil {
		return err
	}
	for _, w := range waits {
		if _, err := a.tx.ExecContext(a.ctx, `INSERT OR IGNORE INTO held_waits (record_id, replica_id, quarantine_id) VALUES (?, ?, ?)`,
			w.Record, w.Replica, heldID); err != nil {
			return err
		}
	}
	return nil
}

// wakeHeld queues the held items waiting for replica's changes to record,
// which the changeset being stored brings.
func (a *applier) wakeHeld(replica string, record syncengine.RecordID) error {
	if !a.waitsRead {
		// Mostly nothing is held: one look per transaction spares every
		// stored record its query (indexWaits clears noWaits).
		var any bool
		if err := a.tx.QueryRowContext(a.ctx, `SELECT EXISTS (SELECT 1 FROM held_waits)`).Scan(&any); err != nil {
			return err
		}
		a.waitsRead, a.noWaits = true, !any
	}
	if a.noWaits {
		return nil
	}
	// ('*', '*') marks an item held before held_waits existed (migration
	// 0050): it is tried once on the next stored changeset, then indexed.
	rows, err := a.tx.QueryContext(a.ctx, `SELECT quarantine_id FROM held_waits
		WHERE (record_id = ? AND replica_id IN (?, '*')) OR (record_id = '*' AND replica_id = '*')`, string(record), replica)
	ids, err := collect(rows, err, func(r *sql.Rows) (id int64, err error) { return id, r.Scan(&id) })
	if err != nil {
		return err
	}
	a.held.Wake(ids...)
	return nil
}

// drainHeld retries the woken held items (domain.DrainHeld). Scope keys
// they touch are added to res for the live channel.
func (a *applier) drainHeld(res *domain.SyncResult) error {
	return domain.DrainHeld(&a.held, heldRetrier{a}, res)
}

// heldRetrier is the SQL of domain.DrainHeld.
type heldRetrier struct{ a *applier }

func (h heldRetrier) HeldItem(id int64) (it domain.HeldItem, ok bool, err error) {
	var reviewed sql.NullString
	err = h.a.tx.QueryRowContext(h.a.ctx, `SELECT device_id, code, body, reviewed_at FROM quarantine WHERE id = ?`, id).
		Scan(&it.Device, &it.Code, &it.Body, &reviewed)
	if errors.Is(err, sql.ErrNoRows) {
		return it, false, nil
	}
	it.Reviewed = reviewed.Valid
	return it, err == nil, err
}

func (h heldRetrier) ForgetHeld(id int64) error {
	_, err := h.a.tx.ExecContext(h.a.ctx, `DELETE FROM held_waits WHERE quarantine_id = ?`, id)
	return err
}

func (h heldRetrier) ActiveDevice(id string) (domain.Device, bool) {
	dev, err := scanDevice(h.a.tx.QueryRowContext(h.a.ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	return dev, err == nil && dev.Status == domain.DeviceActive
}

func (h heldRetrier) RetryHeld(id int64, dev domain.Device, cs *syncengine.Changeset, res *domain.SyncResult) error {
	person, err := findPerson(h.a.ctx, h.a.tx, "id = ?", dev.PersonID)
	if err != nil {
		return err
	}
	scope, err := scopeOf(h.a.ctx, h.a.tx, person)
	if err != nil {
		return err
	}
	if _, err := h.a.push(dev, scope, cs, res); err != nil {
		return fmt.Errorf("retry held %d: %w", id, err)
	}
	return nil
}

// releaseHeld closes a held item whose changeset was just stored.
func (a *applier) releaseHeld(heldID, seq int64, cs *syncengine.Changeset) error {
	a.forget(csKey{cs.Replica.String(), cs.Start})
	if _, err := a.tx.ExecContext(a.ctx, `UPDATE quarantine SET reviewed_by = 'server', reviewed_at = ?, resolution = ? WHERE id = ?`,
		a.tx.NowText(), domain.ResolutionRelease, heldID); err != nil {
		return err
	}
	if _, err := a.tx.ExecContext(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = ?`, heldID); err != nil {
		return err
	}
	return a.resendReleased(seq, cs)
}

// resendReleased makes devices fetch fresh snapshots of the records a
// released changeset touched. Its author's phone dropped the change when it
// was quarantined, and pull never echoes a phone's own changesets, so without
// this the author would never see its own released work. A scope event whose
// team does not change is exactly that signal: "this record entered your
// scope again".
func (a *applier) resendReleased(seq int64, cs *syncengine.Changeset) error {
	for _, d := range cs.Deps {
		c, err := a.get(d.Record)
		if err != nil {
			return err
		}
		key := nullString(scopeKey(c.team, c.service))
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO scope_events (seq, record_id, from_team, to_team, at) VALUES (?, ?, ?, ?, ?)`,
			seq, string(d.Record), key, key, a.tx.NowText()); err != nil {
			return err
		}
	}
	return nil
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
	err = a.tx.QueryRowContext(a.ctx, `INSERT INTO quarantine (device_id, person_id, teams, replica_id, start, code, message, body, body_size, body_digest, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id, replica_id, start) DO UPDATE SET teams = excluded.teams, code = excluded.code, message = excluded.message,
			body = excluded.body, body_size = excluded.body_size, body_digest = excluded.body_digest, created = excluded.created,
			reviewed_by = NULL, reviewed_at = NULL, resolution = NULL
		RETURNING id`,
		dev.ID, dev.PersonID, teams, pr.Replica, cs.Start, code, msg, stored, len(body), digest[:], a.tx.NowText()).Scan(&id)
	if err != nil {
		return 0, err
	}
	return id, a.storeRefs(id, cs)
}

// storeRefs writes the records an item writes, or that file them
// (domain.QuarantineRefs), for the reviewers' list (migration 0260).
func (a *applier) storeRefs(id int64, cs *syncengine.Changeset) error {
	if _, err := a.tx.ExecContext(a.ctx, `DELETE FROM quarantine_refs WHERE quarantine_id = ?`, id); err != nil {
		return err
	}
	for _, ref := range domain.QuarantineRefs(cs) {
		if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO quarantine_refs (quarantine_id, record_id) VALUES (?, ?)`, id, ref); err != nil {
			return err
		}
	}
	return nil
}

// touchedTeams lists the teams whose records cs writes into (domain.TouchedTeams).
func (a *applier) touchedTeams(cs *syncengine.Changeset) (string, error) {
	teamOf := func(id string) (string, error) {
		if err := a.flushRecords(); err != nil {
			return "", err
		}
		var team string
		err := a.tx.QueryRowContext(a.ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = ?`, id).Scan(&team)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return team, err
	}
	return domain.TouchedTeams(cs, func(id syncengine.RecordID) (string, bool, error) {
		c, err := a.get(id)
		if domain.ErrorCode(err) == domain.EMISSINGDEP { // damaged: its team is on its row
			t, _ := teamOf(string(id))
			return t, true, nil
		} else if err != nil {
			return "", false, err
		}
		return c.team, c.exists, nil
	}, teamOf)
}

// quarantine keeps a refused changeset with its reason, for review. Its
// body is kept within the bounds (per item, per device); beyond them only
// its size and digest are.
func (a *applier) quarantine(dev domain.Device, cs *syncengine.Changeset, pr protocol.PushResult, cause error, res *domain.SyncResult) (protocol.PushResult, error) {
	code := syncengine.ErrorCode(cause)
	if code == domain.EINTERNAL {
		return pr, cause
	}
	msg := syncengine.ErrorMessage(cause)
	body := syncengine.EncodeChangeset(cs)
	size := len(body)
	u, err := a.usage(dev.ID)
	if err != nil {
		return pr, err
	}
	var stored []byte
	if u.Keep(a.tx.db.bounds(), int64(size)) {
		stored = body
	}
	id, err := a.storeItem(dev, pr, cs, code, msg, body, stored)
	if err != nil {
		return pr, err
	}
	if _, err := a.tx.ExecContext(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = ?`, id); err != nil {
		return pr, err
	}
	// The device's owner, not cs.Author: the author is whatever the phone wrote.
	if err := appendAudit(a.ctx, a.tx, domain.AuditEntry{DeviceID: dev.ID, PersonID: dev.PersonID, Action: domain.ActionQuar,
		Detail: map[string]any{"replica": pr.Replica, "start": cs.Start, "code": code, "bytes": size, "body_kept": stored != nil}}); err != nil {
		return pr, err
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, code, msg
	res.Quarantined++
	return pr, nil
}
