package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

const transferCols = `id, young_person_id, from_team, to_team, status, reason, requested_by, requested_at,
	COALESCE(decided_by, ''), decided_at`

func scanTransfer(sc interface{ Scan(...any) error }) (domain.Transfer, error) {
	var t domain.Transfer
	var at string
	err := sc.Scan(&t.ID, &t.YoungPersonID, &t.FromTeam, &t.ToTeam, &t.Status, &t.Reason, &t.RequestedBy, &at, &t.DecidedBy, nullTime{&t.DecidedAt})
	t.RequestedAt = parseTime(at)
	return t, err
}

// transferVisible is the WHERE fragment for transfers from or to the
// viewer's teams (everything for an admin).
func transferVisible(s domain.Scope) (string, []any) {
	switch {
	case s.All:
		return "1", nil
	case len(s.Teams) == 0:
		return "0", nil
	}
	args := make([]any, 0, 2*len(s.Teams))
	for _, t := range s.Teams {
		args = append(args, t)
	}
	for _, t := range s.Teams {
		args = append(args, t)
	}
	in := "(?" + strings.Repeat(",?", len(s.Teams)-1) + ")"
	return "(from_team IN " + in + " OR to_team IN " + in + ")", args
}

// Transfers lists transfers visible to f.Viewer, newest first.
func (db *DB) Transfers(ctx context.Context, f domain.TransferFilter) ([]domain.Transfer, error) {
	frag, args := transferVisible(f.Viewer)
	args = append(args, f.Status, f.Status, f.YoungPersonID, f.YoungPersonID)
	var out []domain.Transfer
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE `+frag+`
			AND (? = '' OR status = ?) AND (? = '' OR young_person_id = ?) ORDER BY id DESC LIMIT 500`, args...)
		out, err = collect(rows, err, func(r *sql.Rows) (domain.Transfer, error) { return scanTransfer(r) })
		return err
	})
	return out, err
}

// StartTransfer asks to move a young person (and with them their referrals
// and follow-ups) to toTeam. Only a supervisor of the team the server files
// them under (or an admin) may; the receiving team must exist. Nothing moves
// until a supervisor of toTeam accepts.
func (db *DB) StartTransfer(ctx context.Context, by domain.Person, ypID, toTeam, reason string) (domain.Transfer, error) {
	var t domain.Transfer
	err := db.update(ctx, func(tx *Tx) error {
		s, err := scopeOf(ctx, tx, by)
		if err != nil {
			return err
		}
		from, err := youngPersonTeam(ctx, tx, ypID, s)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM teams WHERE id = ?`, toTeam).Scan(&n); err != nil {
			return err
		}
		if err := domain.CheckStartTransfer(s, from, toTeam, n > 0); err != nil {
			return err
		}
		t = domain.Transfer{YoungPersonID: ypID, FromTeam: from, ToTeam: toTeam, Status: domain.TransferPending, Reason: reason,
			RequestedBy: by.ID, RequestedAt: tx.Now()}
		err = tx.QueryRowContext(ctx, `INSERT INTO transfers (young_person_id, from_team, to_team, status, reason, requested_by, requested_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, ypID, from, toTeam, t.Status, reason, by.ID, tx.NowText()).Scan(&t.ID)
		if isUniqueViolation(err) {
			return domain.ErrTransferPending
		} else if err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TransferAudit(by.ID, t, "start"))
	})
	return t, err
}

// youngPersonTeam returns the team the server files a young person under,
// if the viewer may see them: anyone else gets not found, so ids cannot be
// probed.
func youngPersonTeam(ctx context.Context, tx *Tx, ypID string, viewer domain.Scope) (string, error) {
	var team string
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = ? AND type = ? AND erased = 0`,
		ypID, syncengine.TypeYoungPerson).Scan(&team)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !viewer.HasTeam(team)) {
		return "", notFound("young person", ypID)
	}
	return team, err
}

// DecideTransfer accepts, declines or cancels a pending transfer. Accepting
// and declining are the receiving team's supervisors' (or an admin's);
// cancelling the source team's. On acceptance the server moves the young
// person in the same transaction: it writes their team through its own
// replica, which files their referrals and follow-ups under the new team
// with scope events (old team phones drop them, new team phones receive
// them).
func (db *DB) DecideTransfer(ctx context.Context, by domain.Person, id int64, decision string) (domain.Transfer, error) {
	var t domain.Transfer
	err := db.update(ctx, func(tx *Tx) error {
		s, err := scopeOf(ctx, tx, by)
		if err != nil {
			return err
		}
		frag, args := transferVisible(s)
		t, err = scanTransfer(tx.QueryRowContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE id = ? AND `+frag, append([]any{id}, args...)...))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("transfer", strconv.FormatInt(id, 10))
		} else if err != nil {
			return err
		}
		if t.Status, err = domain.DecideTransfer(s, t, decision); err != nil {
			return err
		}
		if t.Status == domain.TransferAccepted {
			if err := moveYoungPerson(ctx, tx, by.ID, t); err != nil {
				return err
			}
		}
		t.DecidedBy, t.DecidedAt = by.ID, tx.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE transfers SET status = ?, decided_by = ?, decided_at = ? WHERE id = ?`,
			t.Status, by.ID, tx.NowText(), t.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TransferAudit(by.ID, t, decision))
	})
	return t, err
}

// moveYoungPerson performs an accepted transfer.
func moveYoungPerson(ctx context.Context, tx *Tx, by string, t domain.Transfer) error {
	var team string
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = ? AND type = ? AND erased = 0`,
		t.YoungPersonID, syncengine.TypeYoungPerson).Scan(&team)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err := domain.CheckTransferStillFiled(t, err == nil, team); err != nil {
		return err
	}
	rep, _, err := newApplier(ctx, tx).replica("server")
	if err != nil {
		return err
	}
	_, err = rep.Edit(by, func(x *syncengine.Txn) error { return x.Set(syncengine.RecordID(t.YoungPersonID), "team_id", t.ToTeam) })
	return err
}
