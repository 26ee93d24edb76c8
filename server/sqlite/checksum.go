package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the stored CRC-32C of a changeset body or record state.
func checksum(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// sound reports whether stored bytes match their checksum (a NULL checksum
// is not yet computed and passes).
func sound(b []byte, crc sql.NullInt64) bool { return !crc.Valid || checksum(b) == crc.Int64 }

// markDamaged remembers a damaged stored item for /readyz and logs its id
// (never its content) the first time it is seen.
func (db *DB) markDamaged(kind, id string) {
	key := kind + " " + id
	db.health.mu.Lock()
	if db.health.damaged == nil {
		db.health.damaged = map[string]bool{}
	}
	first := !db.health.damaged[key]
	db.health.damaged[key] = true
	db.health.mu.Unlock()
	if first {
		db.logger().Error("damaged stored data: skipped until repaired (docs/operations.md, Damaged records)", "kind", kind, "id", id)
	}
}

func (db *DB) markRepaired(kind, id string) {
	db.health.mu.Lock()
	delete(db.health.damaged, kind+" "+id)
	db.health.mu.Unlock()
	db.logger().Info("damaged stored data repaired", "kind", kind, "id", id)
}

// Damaged lists the damaged stored items found so far ("record <id>",
// "changeset <seq>"), for operators.
func (db *DB) Damaged() []string {
	db.health.mu.Lock()
	defer db.health.mu.Unlock()
	out := make([]string, 0, len(db.health.damaged))
	for k := range db.health.damaged {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fillChecksums computes the checksums rows written before migration 0060
// lack. It runs at start and does nothing once every row has one.
func (db *DB) fillChecksums(ctx context.Context) error {
	return db.update(ctx, func(tx *Tx) error {
		for _, t := range []struct{ table, key, col string }{{"changesets", "seq", "body"}, {"records", "id", "state"}} {
			rows, err := tx.QueryContext(ctx, `SELECT `+t.key+`, `+t.col+` FROM `+t.table+` WHERE crc IS NULL`)
			if err != nil {
				return err
			}
			type row struct {
				key any
				crc int64
			}
			var todo []row
			for rows.Next() {
				var k any
				var b []byte
				if err := rows.Scan(&k, &b); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, row{k, checksum(b)})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range todo {
				if _, err := tx.ExecContext(ctx, `UPDATE `+t.table+` SET crc = ? WHERE `+t.key+` = ?`, r.crc, r.key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ScanChecksums checks every stored changeset and record against its
// checksum and remembers the damaged ones (the daily integrity check runs
// it). It returns them.
func (db *DB) ScanChecksums(ctx context.Context) ([]string, error) {
	var found []string
	err := db.view(ctx, func(tx *Tx) (err error) {
		found, err = scanChecksums(ctx, tx)
		return err
	})
	for _, f := range found {
		kind, id, _ := strings.Cut(f, " ")
		db.markDamaged(kind, id)
	}
	return found, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanChecksums(ctx context.Context, q querier) ([]string, error) {
	var found []string
	for _, t := range []struct{ kind, table, key, col string }{{"changeset", "changesets", "seq", "body"}, {"record", "records", "id", "state"}} {
		rows, err := q.QueryContext(ctx, `SELECT CAST(`+t.key+` AS TEXT), `+t.col+`, crc FROM `+t.table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			var b []byte
			var crc sql.NullInt64
			if err := rows.Scan(&k, &b, &crc); err != nil {
				rows.Close()
				return nil, err
			}
			if !sound(b, crc) {
				found = append(found, t.kind+" "+k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// errDamaged is what reading a damaged record in the push path returns: a
// change to it waits, held like one whose dependency is missing, and is
// applied once the record is repaired; the phone that sent it is not blamed.
func errDamaged(id syncengine.RecordID) error {
	return domain.Errorf(domain.EMISSINGDEP, "read record",
		"the server's stored copy of record %s is damaged; this change is kept and applied once it is repaired", id)
}

// rebuildRecord recomputes a record's state by replaying, in log order, every
// stored changeset that touched it, restricted to it. It fails (ok false)
// when that history is incomplete (compacted away) or itself damaged.
func rebuildRecord(ctx context.Context, tx *Tx, id syncengine.RecordID) (*syncengine.Record, bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.seq, c.body, c.crc FROM changeset_records cr JOIN changesets c ON c.seq = cr.seq
		WHERE cr.record_id = ? ORDER BY c.seq`, string(id))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var rec *syncengine.Record
	get := func(r syncengine.RecordID) (*syncengine.Record, error) {
		if r != id {
			return nil, fmt.Errorf("restricted changeset touches %s", r)
		}
		return rec, nil
	}
	n := 0
	for rows.Next() {
		var seq int64
		var body []byte
		var crc sql.NullInt64
		if err := rows.Scan(&seq, &body, &crc); err != nil {
			return nil, false, err
		}
		if !sound(body, crc) {
			return nil, false, nil
		}
		cs, err := syncengine.DecodeChangeset(body)
		if err != nil {
			return nil, false, nil
		}
		one, ok := syncengine.RestrictChangeset(cs, func(r syncengine.RecordID) bool { return r == id })
		if !ok {
			continue
		}
		applied, err := syncengine.Apply(one, get)
		if err != nil || applied.Status == syncengine.Pending {
			return nil, false, nil
		}
		if applied.Status == syncengine.Applied {
			for _, r := range applied.Records {
				if r.ID == id {
					rec = r
				}
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return rec, rec != nil && n > 0, nil
}

// loadRecord reads a stored record for the push path. A damaged state is
// rebuilt from the change log and written back when it can be; otherwise
// errDamaged.
func loadRecord(ctx context.Context, tx *Tx, id syncengine.RecordID, state []byte, crc sql.NullInt64) (*syncengine.Record, error) {
	if sound(state, crc) {
		rec, err := tx.db.states.DecodeRecord(id, state)
		if err == nil {
			return rec, nil
		}
	}
	tx.db.markDamaged("record", string(id))
	rec, ok, err := rebuildRecord(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errDamaged(id)
	}
	b := syncengine.EncodeRecord(rec)
	if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ?, crc = ? WHERE id = ?`, b, checksum(b), string(id)); err != nil {
		return nil, err
	}
	tx.db.markRepaired("record", string(id))
	return rec, nil
}

// repairChangeset replaces a damaged stored changeset with a phone's copy of
// it (pushed again: after a restore, or a retry), redacted for the records
// erased since, as the stored one was.
func (a *applier) repairChangeset(seq int64, cs *syncengine.Changeset) error {
	if err := a.flushRecords(); err != nil {
		return err
	}
	erased := map[syncengine.RecordID]bool{}
	for _, d := range cs.Deps {
		var e bool
		err := a.tx.QueryRowContext(a.ctx, `SELECT erased FROM records WHERE id = ?`, string(d.Record)).Scan(&e)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		erased[d.Record] = e
	}
	if red, changed := syncengine.RedactChangeset(cs, func(id syncengine.RecordID) bool { return erased[id] }); changed {
		cs = red
	}
	body := syncengine.EncodeChangeset(cs)
	if _, err := a.tx.ExecContext(a.ctx, `UPDATE changesets SET body = ?, crc = ? WHERE seq = ?`, body, checksum(body), seq); err != nil {
		return err
	}
	a.tx.db.markRepaired("changeset", fmt.Sprint(seq))
	// Changes held because these records were damaged may apply now.
	for _, d := range cs.Deps {
		if err := a.wakeHeld("", d.Record); err != nil {
			return err
		}
	}
	return nil
}
