package mobilesdk

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/joinedup/joinedup/syncengine"
)

// Erasure on the phone. The server lists in a sync response (Erase) the
// erased or redacted records this phone holds. They are purged from every
// table once the sync has applied everything (so the erasure or redaction
// itself is in the record states), and the purge is confirmed in the next
// request (Purged). Until then the server keeps listing them.
//
// Purging means: an erased record keeps only its tombstone; a redacted one
// loses the bytes of its deleted text; changesets that touch them are
// deleted from sent (kept only to resend after a server restore: resending
// erased work is exactly what must not happen), scrubbed in the outbox and
// inbox (still to be sent or applied, so rewritten, never dropped), and
// deleted from quarantine.

const (
	metaPurgePending = "purge_pending" // JSON ids the server asked us to purge
	metaPurgeDone    = "purge_done"    // JSON ids purged, to confirm
)

func getIDs(q querier, key string) ([]string, error) {
	v, err := getMeta(q, key)
	if err != nil || v == "" {
		return nil, err
	}
	var ids []string
	if json.Unmarshal([]byte(v), &ids) != nil {
		return nil, nil
	}
	return ids, nil
}

func setIDs(q querier, key string, ids []string) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return setMeta(q, key, mustJSON(ids))
}

// maxConfirm is how many purges one request confirms (the server's limit).
const maxConfirm = 1000

// purgesToConfirm is what the next request confirms; the rest go in later ones.
func (s *store) purgesToConfirm() []string {
	ids, _ := getIDs(s.db, metaPurgeDone)
	return ids[:min(len(ids), maxConfirm)]
}

// notePurges, in the transaction that stores a response: the confirmations
// sent are done with, and what the server lists now waits to be purged.
func notePurges(tx *sql.Tx, confirmed, erase []string) error {
	done, err := getIDs(tx, metaPurgeDone)
	if err != nil {
		return err
	}
	done = slices.DeleteFunc(done, func(id string) bool { return slices.Contains(confirmed, id) })
	if err := setIDs(tx, metaPurgeDone, done); err != nil {
		return err
	}
	if len(erase) == 0 {
		return nil
	}
	pending, err := getIDs(tx, metaPurgePending)
	if err != nil {
		return err
	}
	return setIDs(tx, metaPurgePending, append(pending, erase...))
}

// purgeAndConfirm, at the end of a sync: purge what the server asked for,
// then confirm it in one more round trip, so one SyncNow leaves the server
// knowing the phone is clean.
func (c *Client) purgeAndConfirm(ctx context.Context, st *store, server, cred string, sum *syncSummary) error {
	pending, err := getIDs(st.db, metaPurgePending)
	if err != nil || len(pending) == 0 {
		return err
	}
	c.editMu.Lock()
	err = st.purge(pending)
	if err == nil {
		c.mu.Lock()
		err = c.startReplica() // the replica's memory may hold what was purged
		c.mu.Unlock()
	}
	c.editMu.Unlock()
	if err != nil {
		return err
	}
	_, err = c.roundTrip(ctx, st, server, cred, sum)
	return err
}

// purge removes every copy of ids this phone holds, in one transaction,
// then truncates the WAL so old frames do not keep the sealed blobs.
func (s *store) purge(ids []string) error {
	purge := map[syncengine.RecordID]bool{}
	for _, id := range ids {
		purge[syncengine.RecordID(id)] = true
	}
	touches := func(cs *syncengine.Changeset) bool {
		return slices.ContainsFunc(cs.Records(), func(id syncengine.RecordID) bool { return purge[id] })
	}
	err := s.update(func(tx *sql.Tx) error {
		local := map[syncengine.RecordID]*syncengine.Record{}
		for id := range purge {
			r, err := s.record(tx, id)
			if err != nil {
				return err
			}
			if r == nil {
				continue
			}
			r.PurgeDeletedText()
			if err := s.putRecord(tx, r); err != nil {
				return err
			}
			local[id] = r
		}
		get := func(id syncengine.RecordID) *syncengine.Record {
			if r, ok := local[id]; ok {
				return r
			}
			r, _ := s.record(tx, id)
			return r
		}
		// The outbox and inbox are rewritten: a changeset on a record this
		// phone does not have is left alone (nothing to scrub it against).
		type row struct {
			replica string
			start   int64
			blob    []byte
		}
		scan := func(r *sql.Rows) (x row, err error) { return x, r.Scan(&x.replica, &x.start, &x.blob) }
		rows, err := tx.Query(`SELECT '', start, body FROM outbox`)
		out, err := collect(rows, err, scan)
		if err != nil {
			return err
		}
		for _, x := range out {
			if sealed, err := s.rewrite(outboxAD(uint64(x.start)), x.blob, get, touches); err != nil {
				return err
			} else if sealed != nil {
				if _, err := tx.Exec(`UPDATE outbox SET body = ?, bytes = ? WHERE start = ?`, sealed, len(sealed), x.start); err != nil {
					return err
				}
			}
		}
		rows, err = tx.Query(`SELECT replica, start, body FROM inbox`)
		in, err := collect(rows, err, scan)
		if err != nil {
			return err
		}
		for _, x := range in {
			if sealed, err := s.rewrite(inboxAD(x.replica, uint64(x.start)), x.blob, get, touches); err != nil {
				return err
			} else if sealed != nil {
				if _, err := tx.Exec(`UPDATE inbox SET body = ? WHERE replica = ? AND start = ?`, sealed, x.replica, x.start); err != nil {
					return err
				}
			}
		}
		rows, err = tx.Query(`SELECT '', start, body FROM sent`)
		sent, err := collect(rows, err, scan)
		if err != nil {
			return err
		}
		for _, x := range sent {
			if cs := s.openChangeset(outboxAD(uint64(x.start)), x.blob); cs == nil || touches(cs) {
				if _, err := tx.Exec(`DELETE FROM sent WHERE start = ?`, x.start); err != nil {
					return err
				}
			}
		}
		rows, err = tx.Query(`SELECT replica, start, body, direction FROM quarantine`)
		type qrow struct {
			row
			direction string
		}
		quar, err := collect(rows, err, func(r *sql.Rows) (x qrow, err error) {
			return x, r.Scan(&x.replica, &x.start, &x.blob, &x.direction)
		})
		if err != nil {
			return err
		}
		for _, x := range quar {
			ad := inboxAD(x.replica, uint64(x.start))
			if x.direction == "push" {
				ad = outboxAD(uint64(x.start))
			}
			if cs := s.openChangeset(ad, x.blob); cs != nil && touches(cs) {
				if _, err := tx.Exec(`DELETE FROM quarantine WHERE replica = ? AND start = ?`, x.replica, x.start); err != nil {
					return err
				}
			}
		}
		done, err := getIDs(tx, metaPurgeDone)
		if err != nil {
			return err
		}
		if err := setIDs(tx, metaPurgeDone, append(done, ids...)); err != nil {
			return err
		}
		return setMeta(tx, metaPurgePending, "[]")
	})
	if err != nil {
		return err
	}
	_, err = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (s *store) openChangeset(ad string, blob []byte) *syncengine.Changeset {
	frame, err := s.seal.open(ad, blob)
	if err != nil {
		return nil
	}
	cs, err := syncengine.DecodeChangeset(frame)
	if err != nil {
		return nil
	}
	return cs
}

// rewrite scrubs one sealed queued changeset that touches purged records,
// returning its new sealed body (nil: unchanged).
func (s *store) rewrite(ad string, blob []byte, get func(syncengine.RecordID) *syncengine.Record,
	touches func(*syncengine.Changeset) bool) ([]byte, error) {
	cs := s.openChangeset(ad, blob)
	if cs == nil || !touches(cs) {
		return nil, nil
	}
	for _, id := range cs.Records() {
		if get(id) == nil {
			return nil, nil
		}
	}
	out, changed := syncengine.PurgeChangeset(cs, get)
	if !changed {
		return nil, nil
	}
	return s.seal.seal(ad, syncengine.EncodeChangeset(out))
}
