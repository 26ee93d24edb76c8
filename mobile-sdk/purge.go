package mobilesdk

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
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

func getIDs(st localstore.Store, key string) ([]string, error) {
	v, err := st.Meta(key)
	if err != nil || v == "" {
		return nil, err
	}
	var ids []string
	if json.Unmarshal([]byte(v), &ids) != nil {
		return nil, nil
	}
	return ids, nil
}

func idsJSON(ids []string) string {
	slices.Sort(ids)
	return mustJSON(slices.Compact(ids))
}

// maxConfirm is how many purges one request confirms (the server's limit).
const maxConfirm = 1000

// purgesToConfirm is what the next request confirms; the rest go in later ones.
func purgesToConfirm(st localstore.Store) []string {
	ids, _ := getIDs(st, metaPurgeDone)
	return ids[:min(len(ids), maxConfirm)]
}

// notePurges, into the meta of the batch that stores a response: the
// confirmations sent are done with, and what the server lists now waits to
// be purged.
func notePurges(st localstore.Store, meta map[string]string, confirmed, erase []string) error {
	done, err := getIDs(st, metaPurgeDone)
	if err != nil {
		return err
	}
	done = slices.DeleteFunc(done, func(id string) bool { return slices.Contains(confirmed, id) })
	meta[metaPurgeDone] = idsJSON(done)
	if len(erase) == 0 {
		return nil
	}
	pending, err := getIDs(st, metaPurgePending)
	if err != nil {
		return err
	}
	meta[metaPurgePending] = idsJSON(append(pending, erase...))
	return nil
}

// purgeAndConfirm, at the end of a sync: purge what the server asked for,
// then confirm it in one more round trip, so one SyncNow leaves the server
// knowing the phone is clean.
func (c *Client) purgeAndConfirm(ctx context.Context, st localstore.Store, server, cred string, sum *syncSummary) error {
	pending, err := getIDs(st, metaPurgePending)
	if err != nil || len(pending) == 0 {
		return err
	}
	c.editMu.Lock()
	err = purge(st, pending)
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

// purge removes every copy of ids this phone holds, in one batch.
func purge(st localstore.Store, ids []string) error {
	purged := map[syncengine.RecordID]bool{}
	for _, id := range ids {
		purged[syncengine.RecordID(id)] = true
	}
	touches := func(cs *syncengine.Changeset) bool {
		return slices.ContainsFunc(cs.Records(), func(id syncengine.RecordID) bool { return purged[id] })
	}
	b := &localstore.Batch{}
	local := map[syncengine.RecordID]*syncengine.Record{}
	for id := range purged {
		r, err := st.Record(id)
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		r.PurgeDeletedText()
		b.Put = append(b.Put, r)
		local[id] = r
	}
	get := func(id syncengine.RecordID) *syncengine.Record {
		if r, ok := local[id]; ok {
			return r
		}
		r, _ := st.Record(id)
		return r
	}
	qs, err := st.Queued()
	if err != nil {
		return err
	}
	for _, q := range qs {
		switch q.Queue {
		case localstore.QueueOutbox, localstore.QueueInbox:
			// Still to be sent or applied: rewritten, never dropped. A
			// changeset on a record this phone does not have is left alone
			// (nothing to scrub it against).
			if q.Changeset == nil || !touches(q.Changeset) {
				continue
			}
			if slices.ContainsFunc(q.Changeset.Records(), func(id syncengine.RecordID) bool { return get(id) == nil }) {
				continue
			}
			if out, changed := syncengine.PurgeChangeset(q.Changeset, get); changed {
				b.Rewrite = append(b.Rewrite, localstore.Queued{Key: q.Key, Changeset: out})
			}
		case localstore.QueueSent:
			if q.Changeset == nil || touches(q.Changeset) {
				b.Forget = append(b.Forget, q.Key)
			}
		case localstore.QueueQuarantine:
			if q.Changeset != nil && touches(q.Changeset) {
				b.Forget = append(b.Forget, q.Key)
			}
		}
	}
	done, err := getIDs(st, metaPurgeDone)
	if err != nil {
		return err
	}
	b.Scrub = true
	b.Meta = map[string]string{metaPurgeDone: idsJSON(append(done, ids...)), metaPurgePending: "[]"}
	return st.Write(b)
}
