package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
)

// raiseAlertsTx writes the rules' concern alerts in the transaction of the
// change that raised them. A known id does nothing, so re-planning the same
// change never opens a second alert or reopens an acknowledged one.
func raiseAlertsTx(ctx context.Context, tx *sql.Tx, alerts []domain.ConcernAlert) error {
	for _, a := range alerts {
		if !domain.OpaqueID(a.ID) || !domain.OpaqueID(a.EncounterID) || !domain.ConcernAlerting(a.Level) {
			return domain.Errorf(domain.EINTERNAL, "raise concern alert", "alert %q is not well formed", a.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO concern_alerts (id, encounter_id, team_id, level, raised_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, a.ID, a.EncounterID, a.TeamID, a.Level, domain.UnixMS(a.RaisedAt)); err != nil {
			return err
		}
	}
	return nil
}

// ConcernAlerts lists alerts, open ones first, then newest first. Callers
// filter by scope: an alert belongs to its encounter, whose filing says
// whose it is.
func (db *DB) ConcernAlerts(ctx context.Context, f domain.ConcernAlertFilter) ([]domain.ConcernAlert, error) {
	q := `SELECT id, encounter_id, team_id, level, raised_at, COALESCE(acked_by, ''), COALESCE(acked_at, 0), ack_note
		FROM concern_alerts WHERE 1 = 1`
	var args []any
	if f.EncounterID != "" {
		q += ` AND encounter_id = ?`
		args = append(args, f.EncounterID)
	}
	if f.OpenOnly {
		q += ` AND acked_by IS NULL`
	}
	q += ` ORDER BY acked_by IS NOT NULL, raised_at DESC, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []domain.ConcernAlert
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		out, err = collect(rows, err, func(rows *sql.Rows) (domain.ConcernAlert, error) {
			var a domain.ConcernAlert
			var raised, acked int64
			err := rows.Scan(&a.ID, &a.EncounterID, &a.TeamID, &a.Level, &raised, &a.AckedBy, &acked, &a.AckNote)
			a.RaisedAt, a.AckedAt = domain.FromUnixMS(raised), domain.FromUnixMS(acked)
			return a, err
		})
		return err
	})
	return out, err
}

// MaxAckNote bounds an acknowledgement's note.
const MaxAckNote = 4000

// AcknowledgeConcern closes every open alert of an encounter with a note and
// cancels their pending escalations, in one transaction: an acknowledged
// concern never escalates, and an escalation never goes without its alert
// being open. It returns how many alerts it closed (0: none was open, for
// instance a second supervisor acknowledging at the same moment). The caller
// has authorised by (domain.Authorize, VerbAcknowledge).
func (db *DB) AcknowledgeConcern(ctx context.Context, encounterID, by, note string) (int, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > MaxAckNote {
		return 0, domain.Errorf(domain.EINVALID, "acknowledge concern", "an acknowledgement needs a note (up to %d characters)", MaxAckNote)
	}
	if !domain.OpaqueID(encounterID) || !domain.OpaqueID(by) {
		return 0, domain.Errorf(domain.EINVALID, "acknowledge concern", "ids must be opaque ids")
	}
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE concern_alerts SET acked_by = ?, acked_at = ?, ack_note = ?
			WHERE encounter_id = ? AND acked_by IS NULL`, by, domain.UnixMS(tx.Now()), note, encounterID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = cancelTx(ctx, tx.Tx, encounterID, domain.KindConcernEscalation)
		return err
	})
	return int(n), err
}
