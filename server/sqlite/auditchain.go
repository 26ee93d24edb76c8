package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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

// auditRow is the hashed content of one audit row.
type auditRow struct {
	id                                         int64
	at, person, device, action, record, detail string
	prevHash, hash                             sql.NullString
}

func (r auditRow) digest(prev string) string {
	b, _ := json.Marshal([]any{prev, r.id, r.at, r.person, r.device, r.action, r.record, r.detail})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

const auditRowCols = `id, at, COALESCE(person_id, ''), COALESCE(device_id, ''), action, COALESCE(record_id, ''), detail, prev_hash, hash`

func scanAuditRow(s interface{ Scan(...any) error }) (auditRow, error) {
	var r auditRow
	err := s.Scan(&r.id, &r.at, &r.person, &r.device, &r.action, &r.record, &r.detail, &r.prevHash, &r.hash)
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
		if r.hash.Valid {
			prev = r.hash.String
			continue
		}
		h := r.digest(prev)
		todo = append(todo, upd{r.id, prev, h})
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
	var res domain.AuditVerify
	rows, err := tx.QueryContext(ctx, `SELECT `+auditRowCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return res, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	prev, lastID := "", int64(0)
	for rows.Next() {
		r, err := scanAuditRow(rows)
		if err != nil {
			return res, err
		}
		res.Rows++
		bad := func(why string) (domain.AuditVerify, error) {
			res.BadID, res.Why = r.id, why
			return res, nil
		}
		switch {
		case !r.hash.Valid:
			return bad("row has no hash (never chained, or its hash was removed)")
		case r.prevHash.String != prev:
			if lastID != 0 && r.id != lastID+1 {
				return bad(fmt.Sprintf("rows %d to %d were deleted", lastID+1, r.id-1))
			}
			return bad("the previous row was deleted or changed (prev_hash does not match)")
		case r.digest(prev) != r.hash.String:
			return bad("row content was changed (hash does not match)")
		}
		prev, lastID = r.hash.String, r.id
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	// Deleting the newest rows leaves a chain that verifies; AUTOINCREMENT
	// remembers the highest id ever issued.
	var seq sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'`).Scan(&seq); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, err
	}
	if seq.Valid && seq.Int64 > lastID {
		res.BadID, res.Why = lastID+1, fmt.Sprintf("rows %d to %d were deleted (the newest rows)", lastID+1, seq.Int64)
		return res, nil
	}
	res.OK = true
	return res, nil
}
