package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Transfers of young people between teams (domain.Transfer); the rules are
// the domain's, shared with server/sqlite: this file holds only the SQL.

const transferCols = `id, young_person_id, from_team, to_team, status, reason, requested_by, requested_at,
	COALESCE(decided_by, ''), decided_at`

func scanTransfer(sc pgx.Row) (domain.Transfer, error) {
	var t domain.Transfer
	var decided *time.Time
	err := sc.Scan(&t.ID, &t.YoungPersonID, &t.FromTeam, &t.ToTeam, &t.Status, &t.Reason, &t.RequestedBy, &t.RequestedAt, &t.DecidedBy, &decided)
	t.RequestedAt, t.DecidedAt = t.RequestedAt.UTC(), tm(decided)
	return t, err
}

// transferVisible is the WHERE fragment for transfers from or to the
// viewer's teams (everything for an admin); $n is the teams.
func transferVisible(s domain.Scope, n int) (string, any) {
	if s.All {
		return fmt.Sprintf("($%d::text[] IS NULL OR true)", n), nil
	}
	teams := s.Teams
	if teams == nil {
		teams = []string{}
	}
	return fmt.Sprintf("(from_team = ANY($%[1]d::text[]) OR to_team = ANY($%[1]d::text[]))", n), teams
}

// Transfers lists transfers visible to f.Viewer, newest first.
func (db *DB) Transfers(ctx context.Context, f domain.TransferFilter) ([]domain.Transfer, error) {
	frag, arg := transferVisible(f.Viewer, 3)
	rows, err := db.pool.Query(ctx, `SELECT `+transferCols+` FROM transfers WHERE `+frag+`
		AND ($1 = '' OR status = $1) AND ($2 = '' OR young_person_id = $2) ORDER BY id DESC LIMIT 500`, f.Status, f.YoungPersonID, arg)
	return collect(rows, err, func(r pgx.Rows) (domain.Transfer, error) { return scanTransfer(r) })
}

// StartTransfer asks to move a young person to toTeam (see domain.CheckStartTransfer).
func (db *DB) StartTransfer(ctx context.Context, by domain.Person, ypID, toTeam, reason string) (domain.Transfer, error) {
	var t domain.Transfer
	err := db.update(ctx, func(tx *Tx) error {
		s, err := scopeOf(ctx, tx, by)
		if err != nil {
			return err
		}
		from, found, err := youngPersonTeam(ctx, tx, ypID)
		if err != nil {
			return err
		} else if !found || !s.HasTeam(from) {
			return notFound("young person", ypID) // others' ids cannot be probed
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)`, toTeam).Scan(&exists); err != nil {
			return err
		}
		if err := domain.CheckStartTransfer(s, from, toTeam, exists); err != nil {
			return err
		}
		t = domain.Transfer{YoungPersonID: ypID, FromTeam: from, ToTeam: toTeam, Status: domain.TransferPending, Reason: reason,
			RequestedBy: by.ID, RequestedAt: tx.now}
		err = tx.QueryRow(ctx, `INSERT INTO transfers (young_person_id, from_team, to_team, status, reason, requested_by, requested_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, ypID, from, toTeam, t.Status, reason, by.ID, tx.now).Scan(&t.ID)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.ConstraintName == "transfers_one_pending" {
			return domain.ErrTransferPending
		} else if err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TransferAudit(by.ID, t, "start"))
	})
	return t, err
}

// youngPersonTeam is the team the server files a young person under.
func youngPersonTeam(ctx context.Context, tx *Tx, ypID string) (team string, found bool, err error) {
	err = tx.QueryRow(ctx, `SELECT COALESCE(team_id, '') FROM records WHERE id = $1 AND type = $2 AND NOT erased`,
		ypID, syncengine.TypeYoungPerson).Scan(&team)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return team, err == nil, err
}

// DecideTransfer accepts, declines or cancels a pending transfer; on
// acceptance the server's replica moves the young person in the same
// transaction (their referrals and follow-ups follow, with scope events).
// The transfer's row is locked, so two supervisors deciding at once on two
// nodes take turns and the second finds it decided.
func (db *DB) DecideTransfer(ctx context.Context, by domain.Person, id int64, decision string) (domain.Transfer, error) {
	var t domain.Transfer
	var touched []string
	err := db.update(ctx, func(tx *Tx) error {
		s, err := scopeOf(ctx, tx, by)
		if err != nil {
			return err
		}
		frag, arg := transferVisible(s, 2)
		t, err = scanTransfer(tx.QueryRow(ctx, `SELECT `+transferCols+` FROM transfers WHERE id = $1 AND `+frag+` FOR UPDATE`, id, arg))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("transfer", strconv.FormatInt(id, 10))
		} else if err != nil {
			return err
		}
		if t.Status, err = domain.DecideTransfer(s, t, decision); err != nil {
			return err
		}
		touched = nil
		if t.Status == domain.TransferAccepted {
			team, found, err := youngPersonTeam(ctx, tx, t.YoungPersonID)
			if err != nil {
				return err
			}
			if err := domain.CheckTransferStillFiled(t, found, team); err != nil {
				return err
			}
			rep, st, err := newApplier(ctx, tx).replica("server")
			if err != nil {
				return err
			}
			if _, err := rep.Edit(by.ID, func(x *syncengine.Txn) error {
				return x.Set(syncengine.RecordID(t.YoungPersonID), "team_id", t.ToTeam)
			}); err != nil {
				return err
			}
			touched = st.res.Touched
		}
		t.DecidedBy, t.DecidedAt = by.ID, tx.now
		if _, err := tx.Exec(ctx, `UPDATE transfers SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4`,
			t.Status, by.ID, tx.now, t.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, domain.TransferAudit(by.ID, t, decision))
	})
	if err == nil {
		db.poke(ctx, touched)
	}
	return t, err
}
