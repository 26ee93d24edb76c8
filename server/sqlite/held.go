package sqlite

import (
	"database/sql"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

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

// retryHeld tries again every changeset held in quarantine for a missing
// dependency, as its own device, until none moves: the pushes just accepted
// may be what they were waiting for.
func (a *applier) retryHeld() error {
	for {
		type item struct {
			device string
			body   []byte
		}
		rows, err := a.tx.QueryContext(a.ctx, `SELECT COALESCE(device_id, ''), body FROM quarantine
			WHERE reviewed_at IS NULL AND code = ? ORDER BY id`, domain.EMISSINGDEP)
		items, err := collect(rows, err, func(r *sql.Rows) (it item, err error) { return it, r.Scan(&it.device, &it.body) })
		if err != nil {
			return err
		}
		moved := false
		for _, it := range items {
			cs, err := syncengine.DecodeChangeset(it.body)
			if err != nil || it.device == "" {
				continue // reviewed by a person instead
			}
			dev, err := scanDevice(a.tx.QueryRowContext(a.ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, it.device))
			if err != nil || dev.Status != "active" {
				continue
			}
			person, err := findPerson(a.ctx, a.tx, "id = ?", dev.PersonID)
			if err != nil {
				return err
			}
			scope, err := scopeOf(a.ctx, a.tx, person)
			if err != nil {
				return err
			}
			var res domain.SyncResult
			pr, err := a.push(dev, scope, cs, &res)
			if err != nil {
				return err
			}
			moved = moved || pr.Status == protocol.StatusAccepted
		}
		if !moved {
			return nil
		}
	}
}

// quarantine keeps a refused changeset with its reason, for review.
func (a *applier) quarantine(dev domain.Device, cs *syncengine.Changeset, pr protocol.PushResult, cause error, res *domain.SyncResult) (protocol.PushResult, error) {
	code := syncengine.ErrorCode(cause)
	if code == domain.EINTERNAL {
		return pr, cause
	}
	msg := syncengine.ErrorMessage(cause)
	if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO quarantine (device_id, replica_id, start, code, message, body, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (replica_id, start) DO UPDATE SET device_id = excluded.device_id, code = excluded.code, message = excluded.message, body = excluded.body,
			created = excluded.created, reviewed_by = NULL, reviewed_at = NULL, resolution = NULL`,
		nullString(dev.ID), pr.Replica, cs.Start, code, msg, syncengine.EncodeChangeset(cs), a.tx.NowText()); err != nil {
		return pr, err
	}
	if err := appendAudit(a.ctx, a.tx, domain.AuditEntry{DeviceID: dev.ID, PersonID: cs.Author, Action: domain.ActionQuar,
		Detail: map[string]any{"replica": pr.Replica, "start": cs.Start, "code": code}}); err != nil {
		return pr, err
	}
	pr.Status, pr.Code, pr.Message = protocol.StatusQuarantined, code, msg
	res.Quarantined++
	return pr, nil
}
