package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/joinedup/joinedup/server/domain"
)

// The audit log is a hash chain: row n carries prev_hash = hash of row n-1
// and hash = SHA-256 over prev_hash and row n's own columns. Editing a row
// breaks its hash; deleting one breaks the next row's prev_hash; deleting
// the newest rows leaves sqlite_sequence ahead of the last id. Triggers keep
// honest code from changing rows; the chain shows when somebody with the
// file did.

// auditRow is the hashed content of one audit row (its id is its chain position).
type auditRow struct {
	domain.AuditRow
}

func (r auditRow) digest(prev string) string { return r.Digest(prev) }

const auditRowCols = `id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail, prev_hash, hash`

func scanAuditRow(s interface{ Scan(...any) error }) (auditRow, error) {
	var r auditRow
	var prev, hash sql.NullString
	err := s.Scan(&r.ID, &r.At, &r.Person, &r.Device, &r.Action, &r.Record, &r.Detail, &prev, &hash)
	r.Pos, r.PrevHash, r.Hash, r.Chained = r.ID, prev.String, hash.String, hash.Valid
	return r, err
}

// auditTail is the newest audit row as a write transaction last saw it: the
// id the next row takes is tail.id+1 (AUTOINCREMENT's choice, as rows are
// never deleted and ids never reused) and its prev_hash is tail.hash.
type auditTail struct {
	id   int64
	hash string
}

// readAuditTail reads the tail; chained is false when the newest row has no
// hash yet (a database from before the chain), which chainAuditRow seals.
func readAuditTail(ctx context.Context, tx *Tx) (tail auditTail, chained bool, err error) {
	var seq, last sql.NullInt64
	var hash sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&seq, &last, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'`).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		return auditTail{id: seq.Int64}, true, err
	} else if err != nil {
		return tail, false, err
	}
	return auditTail{id: max(seq.Int64, last.Int64), hash: hash.String}, hash.Valid, nil
}

// chainAuditRow seals the row just inserted: writes run one at a time, so
// the previous row is the one with the next lower id.
func chainAuditRow(ctx context.Context, tx *Tx, id int64) error {
	var prev sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT 1`, id).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err == nil && !prev.Valid {
		// Older rows not chained yet (the database predates the chain):
		// chain everything now, this row included.
		return sealAuditChain(ctx, tx)
	}
	row, err := scanAuditRow(tx.QueryRowContext(ctx, `SELECT `+auditRowCols+` FROM audit_log WHERE id = ?`, id))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?`, prev.String, row.digest(prev.String), id)
	return err
}

// sealAuditChain chains every row that has no hash yet, oldest first (the
// rows written before the chain existed; run on Open).
func sealAuditChain(ctx context.Context, tx *Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+auditRowCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return err
	}
	type upd struct {
		id         int64
		prev, hash string
	}
	var todo []upd
	prev := ""
	for rows.Next() {
		r, err := scanAuditRow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if r.Chained {
			prev = r.Hash
			continue
		}
		h := r.digest(prev)
		todo = append(todo, upd{r.ID, prev, h})
		prev = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range todo {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?`, u.prev, u.hash, u.id); err != nil {
			return err
		}
	}
	return nil
}

// VerifyAuditFile checks the audit chain of the database file at path,
// opened read-only (a live server may be running on it). It names the first
// row that does not verify.
func VerifyAuditFile(ctx context.Context, path string) (domain.AuditVerify, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return domain.AuditVerify{}, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return domain.AuditVerify{}, err
	}
	defer tx.Rollback()
	return verifyAudit(ctx, tx)
}

// VerifyAudit checks the live database's audit chain.
func (db *DB) VerifyAudit(ctx context.Context) (res domain.AuditVerify, err error) {
	err = db.view(ctx, func(tx *Tx) error { res, err = verifyAudit(ctx, tx.Tx); return err })
	return res, err
}

func verifyAudit(ctx context.Context, tx *sql.Tx) (domain.AuditVerify, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+auditRowCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return domain.AuditVerify{}, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var c domain.AuditChecker
	for rows.Next() {
		r, err := scanAuditRow(rows)
		if err != nil {
			return domain.AuditVerify{}, err
		}
		if !c.Next(r.AuditRow) {
			return c.Result(0), nil
		}
	}
	if err := rows.Err(); err != nil {
		return domain.AuditVerify{}, err
	}
	// Deleting the newest rows leaves a chain that verifies; AUTOINCREMENT
	// remembers the highest id ever issued.
	var seq sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'`).Scan(&seq); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return domain.AuditVerify{}, err
	}
	return c.Result(seq.Int64), nil
}
