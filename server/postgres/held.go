package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Held changesets on Postgres (migration 0161), as on SQLite: one held for a
// missing dependency keeps its body within the device's bounds
// (domain.QuarantineBounds) and is indexed by what it waits for, so a
// stored changeset wakes only the items waiting for it. Waking and retrying
// happen in the storing transaction, under the row locks of the records
// involved, so two nodes cannot both release one item: the second finds it
// released (its reviewed_at set) and the changeset a duplicate.

// usage is what a device's open quarantine items hold, counted once per
// transaction. The device's row is locked first, so two nodes refusing
// changesets of one device at once count one after the other.
func (db *DB) bounds() domain.QuarantineBounds {
	if db.Bounds == (domain.QuarantineBounds{}) {
		return domain.DefaultQuarantineBounds
	}
	return db.Bounds
}

func (a *applier) usage(deviceID string) (*domain.QuarantineUsage, error) {
	if u, ok := a.usages[deviceID]; ok {
		return u, nil
	}
	if _, err := a.tx.Exec(a.ctx, `SELECT 1 FROM devices WHERE id = $1 FOR UPDATE`, deviceID); err != nil {
		return nil, err
	}
	u := &domain.QuarantineUsage{}
	if err := a.tx.QueryRow(a.ctx, `SELECT COUNT(*) FILTER (WHERE code = $1), COALESCE(SUM(body_size) FILTER (WHERE code = $1), 0),
		COALESCE(SUM(length(body)), 0) FROM quarantine WHERE device_id = $2 AND reviewed_at IS NULL`,
		domain.EMISSINGDEP, deviceID).Scan(&u.Held, &u.HeldBytes, &u.Kept); err != nil {
		return nil, err
	}
	if a.usages == nil {
		a.usages = map[string]*domain.QuarantineUsage{}
	}
	a.usages[deviceID] = u
	return u, nil
}

// hold keeps a changeset whose dependencies have not arrived, indexed by
// what it waits for; heldID is its item when it was already held (a retry
// that finds it still waiting only re-indexes it). Beyond the device's
// bounds it is refused and not stored.
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
	if _, err := a.tx.Exec(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = $1`, heldID); err != nil {
		return pr, err
	}
	waits, err := domain.HeldWaits(missing, func(id syncengine.RecordID) (syncengine.VV, bool, error) {
		r, err := a.getLive(id)
		if err != nil || r == nil {
			return nil, false, err
		}
		return r.VV, false, nil
	})
	if err != nil {
		return pr, err
	}
	for _, w := range waits {
		if _, err := a.tx.Exec(a.ctx, `INSERT INTO held_waits (record_id, replica_id, quarantine_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			w.Record, w.Replica, heldID); err != nil {
			return pr, err
		}
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, domain.EMISSINGDEP, msg
	res.Quarantined++
	return pr, nil
}

// drainHeld retries the woken held items (domain.DrainHeld).
func (a *applier) drainHeld(res *domain.SyncResult) error {
	return domain.DrainHeld(&a.held, heldRetrier{a}, res)
}

// heldRetrier is the SQL of domain.DrainHeld.
type heldRetrier struct{ a *applier }

func (h heldRetrier) HeldItem(id int64) (it domain.HeldItem, ok bool, err error) {
	err = h.a.tx.QueryRow(h.a.ctx, `SELECT device_id, code, body, reviewed_at IS NOT NULL FROM quarantine WHERE id = $1 FOR UPDATE`, id).
		Scan(&it.Device, &it.Code, &it.Body, &it.Reviewed)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, false, nil
	}
	return it, err == nil, err
}

func (h heldRetrier) ForgetHeld(id int64) error {
	_, err := h.a.tx.Exec(h.a.ctx, `DELETE FROM held_waits WHERE quarantine_id = $1`, id)
	return err
}

func (h heldRetrier) ActiveDevice(id string) (domain.Device, bool) {
	dev, err := scanDevice(h.a.tx.QueryRow(h.a.ctx, `SELECT `+deviceCols+` FROM devices d WHERE id = $1`, id))
	return dev, err == nil && dev.Status == domain.DeviceActive
}

func (h heldRetrier) RetryHeld(id int64, dev domain.Device, cs *syncengine.Changeset, res *domain.SyncResult) error {
	person, err := findPerson(h.a.ctx, h.a.tx, "id = $1", dev.PersonID)
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
	if _, err := a.tx.Exec(a.ctx, `UPDATE quarantine SET reviewed_by = 'server', reviewed_at = $1, resolution = $2 WHERE id = $3`,
		a.tx.now, domain.ResolutionRelease, heldID); err != nil {
		return err
	}
	if _, err := a.tx.Exec(a.ctx, `DELETE FROM held_waits WHERE quarantine_id = $1`, heldID); err != nil {
		return err
	}
	return a.resendReleased(seq, cs)
}
