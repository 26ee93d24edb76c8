package sqlite

import (
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// A request's records are materialised once, at the end of its pushed
// changesets, not after each one: a page of 200 changesets from one author
// edits many records more than once, and each stored state cost an encode
// and an upsert (with its indexes). The applier's cache already holds every
// record's latest state, and every read of a record during the request goes
// through it; the log (changesets) is still appended changeset by
// changeset, so sequence numbers and exactly-once are unchanged, and the
// changeset_records rows are inserted together with the records.
//
// Whatever reads or writes the records or changeset_records tables while
// the request runs writes the pending ones first (flushRecords): a young
// person's move between teams, an erasure's history rewrite, a repair.
// Only Sync defers (applier.settleLater); every other writer stores at once.

type dirtyRecord struct {
	rec               *syncengine.Record
	team, service, yp string
	seq               int64
}

type pendingRecords struct {
	recs  domain.LastStates[dirtyRecord]
	links [][]any // changeset_records rows (seq, record id)
}

// storeRecord writes rec's row now, or keeps it for flushRecords while the
// request's changesets are being applied.
func (a *applier) storeRecord(d dirtyRecord) error {
	if a.settleLater {
		a.dirty.recs.Put(d.rec.ID, d)
		a.dirty.links = append(a.dirty.links, []any{d.seq, string(d.rec.ID)})
		return nil
	}
	// A pending older state of the same record must not land after this one.
	if err := a.flushRecords(); err != nil {
		return err
	}
	if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO changeset_records (seq, record_id) VALUES (?, ?)`, d.seq, string(d.rec.ID)); err != nil {
		return err
	}
	return a.upsertRecord(d)
}

func (a *applier) upsertRecord(d dirtyRecord) error {
	rec := d.rec
	// Indexed before the transaction (or the grouped sync) ends, in the
	// state written last (flushSearch).
	a.tx.search.add(rec)
	state := syncengine.EncodeRecord(rec)
	a.tx.db.states.Put(rec.ID, state, rec)
	_, err := a.tx.ExecContext(a.ctx, `INSERT INTO records (id, type, team_id, service_id, young_person_id, state, updated_seq, deleted, erased, crc, field_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, team_id = excluded.team_id, service_id = excluded.service_id,
			young_person_id = excluded.young_person_id, state = excluded.state, updated_seq = excluded.updated_seq,
			deleted = excluded.deleted, erased = excluded.erased, crc = excluded.crc, field_at = excluded.field_at`,
		string(rec.ID), rec.Type, nullString(d.team), nullString(d.service), nullString(d.yp), state, d.seq,
		rec.Deleted(), rec.Erased != nil, checksum(state), domain.FieldAt(rec))
	return err
}

// flushRecords writes the kept changeset_records rows and each kept
// record's last state.
//
// It writes the write-behind set first (older than anything of a's), so
// "everything pending" still means everything, and a's own sync is then
// stored in its own transaction, not left to the set (behind.go).
func (a *applier) flushRecords() error {
	a.deferring = false
	if err := a.flushBehind(false); err != nil {
		return err
	}
	p := a.dirty
	a.dirty = pendingRecords{}
	if err := insertRows(a.ctx, a.tx, `INSERT INTO changeset_records (seq, record_id) VALUES `, "", p.links); err != nil {
		return err
	}
	for _, d := range p.recs.Values() {
		if err := a.upsertRecord(d); err != nil {
			return err
		}
	}
	return nil
}
