package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
)

// raiseAlertsTx writes the rules' concern alerts in the transaction of the
// change that raised them; a known id does nothing.
func raiseAlertsTx(ctx context.Context, tx *Tx, alerts []domain.ConcernAlert) error {
	for _, a := range alerts {
		if !domain.OpaqueID(a.ID) || !domain.OpaqueID(a.EncounterID) || !domain.ConcernAlerting(a.Level) {
			return domain.Errorf(domain.EINTERNAL, "raise concern alert", "alert %q is not well formed", a.ID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO concern_alerts (id, encounter_id, team_id, level, raised_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, a.ID, a.EncounterID, a.TeamID, a.Level, domain.UnixMS(a.RaisedAt)); err != nil {
			return err
		}
	}
	return nil
}

// ConcernAlerts lists alerts, open ones first, then newest first.
func (db *DB) ConcernAlerts(ctx context.Context, f domain.ConcernAlertFilter) ([]domain.ConcernAlert, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1 << 30
	}
	var out []domain.ConcernAlert
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, encounter_id, team_id, level, raised_at, COALESCE(acked_by, ''), COALESCE(acked_at, 0), ack_note
			FROM concern_alerts WHERE ($1 = '' OR encounter_id = $1) AND (NOT $2 OR acked_by IS NULL)
			ORDER BY acked_by IS NOT NULL, raised_at DESC, id LIMIT $3`, f.EncounterID, f.OpenOnly, limit)
		out, err = collect(rows, err, func(rows pgx.Rows) (domain.ConcernAlert, error) {
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

// AcknowledgeConcern closes an encounter's open alerts with a note and
// cancels their pending escalations in one transaction (see the SQLite store).
func (db *DB) AcknowledgeConcern(ctx context.Context, encounterID, by, note string) (int, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 4000 {
		return 0, domain.Errorf(domain.EINVALID, "acknowledge concern", "an acknowledgement needs a note (up to 4000 characters)")
	}
	if !domain.OpaqueID(encounterID) || !domain.OpaqueID(by) {
		return 0, domain.Errorf(domain.EINVALID, "acknowledge concern", "ids must be opaque ids")
	}
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE concern_alerts SET acked_by = $1, acked_at = $2, ack_note = $3
			WHERE encounter_id = $4 AND acked_by IS NULL`, by, domain.UnixMS(tx.now), note, encounterID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		_, err = cancelTx(ctx, tx, encounterID, domain.KindConcernEscalation)
		return err
	})
	return int(n), err
}
