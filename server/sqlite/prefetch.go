package sqlite

import (
	"database/sql"
	"encoding/json"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// A push request's lookups, made once for all its changesets: whether each
// is already in the log (exactly-once), in the device's open quarantine,
// which of the records it touches the erasure ledger names, and those
// records' stored states (into the applier's cache). A page of
// 200 changesets asked each question 200 times, one statement each.
//
// Whatever this applier writes afterwards keeps the answers true: a
// changeset it appends to the log is added (commit), a ledger entry it
// writes is added (recordLedger), and a quarantine item it stores or
// releases is forgotten, so that key is looked up again. An erasure
// rewrites stored bodies and purges quarantine, so it drops them all.
// Keys never prefetched (a held changeset retried) are looked up one by
// one as before.

type csKey struct {
	replica string
	start   uint64
}

// loggedChangeset is a changeset found in the log.
type loggedChangeset struct {
	seq  int64
	body []byte
	crc  sql.NullInt64
}

// openQuarantine is a device's open quarantine item for a changeset.
type openQuarantine struct {
	id            int64
	code, message string
}

type prefetched = domain.Prefetched[csKey, loggedChangeset, openQuarantine]

// prefetch answers the lookups of css, pushed by device deviceID.
func (a *applier) prefetch(deviceID string, css []*syncengine.Changeset) error {
	p := domain.NewPrefetched[csKey, loggedChangeset, openQuarantine]()
	starts := map[string][]uint64{}
	var records []string
	for _, cs := range css {
		k := csKey{cs.Replica.String(), cs.Start}
		if p.AskChangeset(k) {
			starts[k.replica] = append(starts[k.replica], k.start)
		}
		for _, id := range cs.Records() {
			if p.AskRecord(id) {
				records = append(records, string(id))
			}
		}
	}
	for replica, ss := range starts {
		list, err := json.Marshal(ss)
		if err != nil {
			return err
		}
		type logRow struct {
			start uint64
			l     loggedChangeset
		}
		rows, err := a.tx.QueryContext(a.ctx, `SELECT start, seq, body, crc FROM changesets
			WHERE replica_id = ? AND start IN (SELECT value FROM json_each(?))`, replica, string(list))
		logged, err := collect(rows, err, func(r *sql.Rows) (x logRow, err error) {
			return x, r.Scan(&x.start, &x.l.seq, &x.l.body, &x.l.crc)
		})
		if err != nil {
			return err
		}
		for _, x := range logged {
			p.FoundLogged(csKey{replica, x.start}, x.l)
		}
		type openRow struct {
			start uint64
			q     openQuarantine
		}
		rows, err = a.tx.QueryContext(a.ctx, `SELECT start, id, code, message FROM quarantine
			WHERE device_id = ? AND replica_id = ? AND start IN (SELECT value FROM json_each(?)) AND reviewed_at IS NULL`,
			deviceID, replica, string(list))
		open, err := collect(rows, err, func(r *sql.Rows) (x openRow, err error) {
			return x, r.Scan(&x.start, &x.q.id, &x.q.code, &x.q.message)
		})
		if err != nil {
			return err
		}
		for _, x := range open {
			p.FoundOpen(csKey{replica, x.start}, x.q)
		}
	}
	list, err := json.Marshal(records)
	if err != nil {
		return err
	}
	rows, err := a.tx.QueryContext(a.ctx, `SELECT DISTINCT record_id FROM erasure_ledger
		WHERE record_id IN (SELECT value FROM json_each(?)) AND kind = 'erase'`, string(list))
	ids, err := collect(rows, err, func(r *sql.Rows) (id string, err error) { return id, r.Scan(&id) })
	if err != nil {
		return err
	}
	for _, id := range ids {
		p.FoundLedgered(syncengine.RecordID(id))
	}
	a.pre = p
	return a.preload(string(list), records)
}

// preload reads the records the request's changesets touch into the
// applier's cache in one query (get would read them one by one). A state
// that is not sound is left to get, which repairs it or holds the change.
func (a *applier) preload(list string, ids []string) error {
	type row struct {
		id                string
		state             []byte
		crc               sql.NullInt64
		team, service, yp string
	}
	// A record in the write-behind set is newer than its row (behind.go).
	if s := a.tx.behindSet(); !s.empty() {
		for _, id := range ids {
			if d, ok := s.get(syncengine.RecordID(id)); ok {
				if _, cached := a.cache[d.rec.ID]; !cached {
					a.cache[d.rec.ID] = d.cached()
				}
			}
		}
	}
	rows, err := a.tx.QueryContext(a.ctx, `SELECT id, state, crc, COALESCE(team_id, ''), COALESCE(service_id, ''), COALESCE(young_person_id, '')
		FROM records WHERE id IN (SELECT value FROM json_each(?))`, list)
	found, err := collect(rows, err, func(r *sql.Rows) (x row, err error) {
		return x, r.Scan(&x.id, &x.state, &x.crc, &x.team, &x.service, &x.yp)
	})
	if err != nil {
		return err
	}
	stored := map[string]bool{}
	for _, x := range found {
		stored[x.id] = true
		id := syncengine.RecordID(x.id)
		if _, ok := a.cache[id]; ok || !sound(x.state, x.crc) {
			continue
		}
		rec, err := a.tx.db.states.DecodeRecord(id, x.state)
		if err != nil {
			continue
		}
		a.cache[id] = &cachedRecord{rec: rec, team: x.team, service: x.service, yp: x.yp, exists: true}
	}
	for _, id := range ids {
		if _, ok := a.cache[syncengine.RecordID(id)]; !ok && !stored[id] {
			a.cache[syncengine.RecordID(id)] = &cachedRecord{}
		}
	}
	return nil
}

// logLookup is the log's answer for k if prefetched (ok false: ask the log).
func (a *applier) logLookup(k csKey) (l loggedChangeset, found, ok bool) { return a.pre.Logged(k) }

// quarantineLookup is the open quarantine's answer for k if prefetched.
func (a *applier) quarantineLookup(k csKey) (q openQuarantine, found, ok bool) { return a.pre.Open(k) }

// ledgerLookup is whether the ledger names id as erased, if prefetched.
func (a *applier) ledgerLookup(id syncengine.RecordID) (erased, ok bool) { return a.pre.Ledgered(id) }

// noteLogged notes a changeset this applier appended to the log.
func (a *applier) noteLogged(k csKey, l loggedChangeset) { a.pre.NoteLogged(k, l) }

// forget makes k's lookups go to the tables again (its quarantine item or
// its stored body
// changed).
func (a *applier) forget(k csKey) { a.pre.Forget(k) }

// noteLedgered notes a record this applier wrote to the erasure ledger.
func (a *applier) noteLedgered(id syncengine.RecordID) { a.pre.NoteLedgered(id) }

// forgetPrefetched drops every prefetched answer (an erasure rewrote what
// they describe).
func (a *applier) forgetPrefetched() { a.pre = prefetched{} }
