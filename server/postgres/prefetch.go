package postgres

import (
	"encoding/json"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// A push request's lookups, made once for all its changesets and sent to
// Postgres together (one pgx batch, one round trip): whether each is already
// in the log (exactly-once), in the device's open quarantine, which of the
// records it touches the erasure ledger names, and those records' stored
// states, read and locked (FOR UPDATE, in id order) into the applier's
// cache. A page of 200 changesets asked each question 200 times, each a
// round trip to another process.
//
// Whatever this applier writes afterwards keeps the answers true: a
// changeset it appends to the log is added (commit), a ledger entry it
// writes is added (recordLedger), and a quarantine item it stores or
// releases is forgotten, so that key is looked up again. (An erasure
// rewrites stored bodies, which are not kept here.) Keys never prefetched (a held changeset retried) are looked up one by one.
// Another node cannot change the answers unseen: a changeset it logs
// meanwhile takes the (replica_id, start) key first and this transaction
// retries; the records are locked.

type csKey struct {
	replica string
	start   uint64
}

// openQuarantine is a device's open quarantine item for a changeset.
type openQuarantine struct {
	id            int64
	code, message string
}

type prefetched = domain.Prefetched[csKey, int64, openQuarantine]

// prefetch answers the lookups of css, pushed by device deviceID.
func (a *applier) prefetch(deviceID string, css []*syncengine.Changeset) error {
	p := domain.NewPrefetched[csKey, int64, openQuarantine]()
	var replicas, records []string
	var starts []int64
	for _, cs := range css {
		k := csKey{cs.Replica.String(), cs.Start}
		if p.AskChangeset(k) {
			replicas = append(replicas, k.replica)
			starts = append(starts, int64(k.start))
		}
		for _, id := range cs.Records() {
			if p.AskRecord(id) {
				records = append(records, string(id))
			}
		}
	}
	// The records the changesets' filing references name are read too.
	load := slices.Clone(records)
	loading := map[string]bool{}
	for _, id := range records {
		loading[id] = true
	}
	for _, cs := range css {
		for _, op := range cs.Ops {
			var ref string
			if slices.Contains(filingRefs, op.Field) && json.Unmarshal(op.Value, &ref) == nil && ref != "" && !loading[ref] {
				loading[ref] = true
				load = append(load, ref)
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT version FROM org_version`).QueryRow(func(r pgx.Row) error { return r.Scan(&a.orgVersion) })
	b.Queue(loggedKeysSQL, replicas, starts).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k csKey
			var seq int64
			if err := rows.Scan(&k.replica, &k.start, &seq); err != nil {
				return err
			}
			p.FoundLogged(k, seq)
		}
		return rows.Err()
	})
	b.Queue(openQuarantineSQL, deviceID, replicas, starts).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k csKey
			var q openQuarantine
			if err := rows.Scan(&k.replica, &k.start, &q.id, &q.code, &q.message); err != nil {
				return err
			}
			p.FoundOpen(k, q)
		}
		return rows.Err()
	})
	b.Queue(`SELECT DISTINCT record_id FROM erasure_ledger WHERE record_id = ANY($1::text[]) AND kind = 'erase'`, records).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			p.FoundLedgered(syncengine.RecordID(id))
		}
		return rows.Err()
	})
	a.queuePreload(b, load)
	if err := a.tx.SendBatch(a.ctx, b).Close(); err != nil {
		return err
	}
	a.pre = p
	// And those the stored states' filing references name (a referral's
	// young person), which only the states above tell: filing a referral
	// read its young person's row, one round trip per changeset.
	var more []string
	for _, id := range load {
		if c := a.cache[syncengine.RecordID(id)]; c.rec != nil {
			for _, f := range filingRefs {
				if ref := c.rec.String(f); ref != "" && !loading[ref] {
					loading[ref] = true
					more = append(more, ref)
				}
			}
		}
	}
	if len(more) == 0 {
		return nil
	}
	b = &pgx.Batch{}
	a.queuePreload(b, more)
	return a.tx.SendBatch(a.ctx, b).Close()
}

// The lookups by a list of keys probe an index once per key, whatever the
// table's size when Postgres planned them: a LATERAL subquery with LIMIT
// (or OFFSET 0) is never flattened into a join, so no hash join over a
// full scan can be chosen. Statements are prepared once per connection and
// a generic plan is kept from the sixth run on, planned from the sizes of
// that moment: on a new database (a new region, the week bench) a plain
// join was planned over empty tables as a full scan and stayed one while
// the tables grew (TestKeyListStatementsProbeIndexes).
const (
	loggedKeysSQL = `SELECT k.replica_id, k.start, c.seq FROM unnest($1::text[], $2::bigint[]) k (replica_id, start)
		CROSS JOIN LATERAL (SELECT c.seq FROM changesets c WHERE c.replica_id = k.replica_id AND c.start = k.start LIMIT 1) c`
	// A device has at most one quarantine item for a changeset (its key);
	// whether it is open is asked of that row, so the open items' partial
	// index, which cannot find it by key, is never walked instead.
	openQuarantineSQL = `SELECT k.replica_id, k.start, q.id, q.code, q.message FROM unnest($2::text[], $3::bigint[]) k (replica_id, start)
		CROSS JOIN LATERAL (SELECT q.id, q.code, q.message, q.reviewed_at FROM quarantine q
			WHERE q.device_id = $1 AND q.replica_id = k.replica_id AND q.start = k.start LIMIT 1) q
		WHERE q.reviewed_at IS NULL`
)

// filingRefs are the fields whose record ids syncengine.FileRecord follows
// to file a record (under its young person's, or its referral's, team).
var filingRefs = []string{"young_person_id", "referral_id"}

// queuePreload queues reading ids into the cache, each row locked as get
// locks it; an id with no row is cached as absent, as get caches it. In id
// order, so two nodes locking overlapping sets wait rather than deadlock.
func (a *applier) queuePreload(b *pgx.Batch, ids []string) {
	b.Queue(`SELECT id, state, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '')
		FROM records WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var state []byte
			c := &cachedRecord{exists: true}
			if err := rows.Scan(&id, &state, &c.team, &c.service, &c.yp); err != nil {
				return err
			}
			if _, ok := a.cache[syncengine.RecordID(id)]; ok {
				continue
			}
			if err := a.cacheStored(syncengine.RecordID(id), state, c); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := a.cache[syncengine.RecordID(id)]; !ok {
				a.cache[syncengine.RecordID(id)] = &cachedRecord{}
			}
		}
		return nil
	})
}

// logLookup is the log's answer for k if prefetched (ok false: ask the log).
func (a *applier) logLookup(k csKey) (seq int64, found, ok bool) { return a.pre.Logged(k) }

// quarantineLookup is the open quarantine's answer for k if prefetched.
func (a *applier) quarantineLookup(k csKey) (q openQuarantine, found, ok bool) { return a.pre.Open(k) }

// ledgerLookup is whether the ledger names id as erased, if prefetched.
func (a *applier) ledgerLookup(id syncengine.RecordID) (erased, ok bool) { return a.pre.Ledgered(id) }

// noteLogged notes a changeset this applier appended to the log.
func (a *applier) noteLogged(k csKey, seq int64) { a.pre.NoteLogged(k, seq) }

// forget makes k's lookups go to the tables again (its quarantine item
// changed).
func (a *applier) forget(k csKey) { a.pre.Forget(k) }

// noteLedgered notes a record this applier wrote to the erasure ledger.
func (a *applier) noteLedgered(id syncengine.RecordID) { a.pre.NoteLedgered(id) }
