package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Records are materialised once per request, as in server/sqlite (its
// materialise.go says why and which writers store first). Here each
// changeset still gets its own sequence number, in order, under the commit
// lock (logChangeset), and what the request stored is written by
// flushRecords in one pgx batch: one statement per kind of row over arrays
// (unnest), so its text and prepared statement do not vary with the row
// count. The kinds: the log rows, the changeset_records rows, the held
// changesets the records wake, new records (inserted: if another node
// inserted one meanwhile, the merge missed its ops and the transaction runs
// again), records already there (updated: locked since read), and the
// search index. A young person's move, an erasure's history rewrite and a
// quarantined changeset's teams write the pending rows first; only a
// request's changesets and the rules' edits are deferred (applier.deferring).

type dirtyRecord struct {
	rec               *syncengine.Record
	team, service, yp string
	seq               int64
	replica           string // of the changeset that stored it: wakes what waits for it
}

type pendingRecords struct {
	last  domain.LastStates[dirtyRecord] // each record's last state, in first-stored order
	links []dirtyRecord                  // every (seq, record) stored
	log   []loggedRow                    // changesets to append to the log
	meta  map[string]string              // the server replicas' counters and clocks (rules.go)
	// Consent decisions on referrals (recordSharingDecision), in order.
	decisions []domain.SharingDecision
}

// loggedRow is a changeset given its seq, not yet in the log.
type loggedRow struct {
	seq      int64
	deviceID string
	cs       *syncengine.Changeset
	body     []byte
}

// storeRecord writes d's record now, or keeps it for flushRecords while the
// request's changesets are being applied.
func (a *applier) storeRecord(d dirtyRecord) error {
	p := &a.dirty
	p.last.Put(d.rec.ID, d)
	p.links = append(p.links, d)
	if a.deferring() {
		return nil
	}
	return a.flushRecords()
}

// flushRecords writes what the stored records bring (see above).
func (a *applier) flushRecords() error {
	p := a.dirty
	a.dirty = pendingRecords{}
	if len(p.links) == 0 && len(p.log) == 0 && len(p.meta) == 0 && len(p.decisions) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	if n := len(p.decisions); n > 0 {
		refs, decisions, why, by, at := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, d := range p.decisions {
			refs[i], decisions[i], why[i], by[i], at[i] = d.ReferralID, d.Decision, d.Justification, d.DecidedBy, d.At
		}
		b.Queue(`INSERT INTO sharing_decisions (referral_id, decision, justification, decided_by, at)
			SELECT referral_id, decision, justification, decided_by, at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY
				AS d (referral_id, decision, justification, decided_by, at, n)
			ORDER BY n`, refs, decisions, why, by, at)
	}
	if len(p.meta) > 0 {
		var keys, values []string
		for k, v := range p.meta {
			keys, values = append(keys, k), append(values, v)
		}
		b.Queue(`UPDATE meta SET value = m.value FROM unnest($1::text[], $2::text[]) m (key, value) WHERE meta.key = m.key`, keys, values)
	}
	if len(p.log) > 0 {
		// First: changeset_records refers to it. A changeset another node
		// logged meanwhile takes its key, and this transaction runs again.
		var seqs, starts, spans []int64
		var replicas, authors, bodies = make([]string, 0, len(p.log)), make([]string, 0, len(p.log)), make([][]byte, 0, len(p.log))
		var devices []*string
		for _, l := range p.log {
			seqs, starts, spans = append(seqs, l.seq), append(starts, int64(l.cs.Start)), append(spans, int64(l.cs.Span()))
			replicas, authors, bodies = append(replicas, l.cs.Replica.String()), append(authors, l.cs.Author), append(bodies, l.body)
			devices = append(devices, textOrNull(l.deviceID))
		}
		b.Queue(`INSERT INTO changesets (seq, replica_id, start, span, device_id, author, received_at, body)
			SELECT seq, replica_id, start, span, device_id, author, $1, body
			FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bytea[])
				AS l (seq, replica_id, start, span, device_id, author, body)`,
			a.tx.now, seqs, replicas, starts, spans, devices, authors, bodies)
	}
	if len(p.links) == 0 {
		return a.tx.SendBatch(a.ctx, b).Close()
	}
	var linkSeqs []int64
	var linkIDs, wakeIDs, wakeReplicas []string
	woken := map[[2]string]bool{}
	for _, d := range p.links {
		linkSeqs = append(linkSeqs, d.seq)
		linkIDs = append(linkIDs, string(d.rec.ID))
		if k := [2]string{string(d.rec.ID), d.replica}; !woken[k] {
			woken[k] = true
			wakeIDs, wakeReplicas = append(wakeIDs, k[0]), append(wakeReplicas, k[1])
		}
	}
	b.Queue(`INSERT INTO changeset_records (seq, record_id) SELECT * FROM unnest($1::bigint[], $2::text[])`, linkSeqs, linkIDs)
	b.Queue(heldWokenSQL, wakeIDs, wakeReplicas).Query(func(rows pgx.Rows) error {
		ids, err := collect(rows, nil, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) })
		a.held.Wake(ids...)
		return err
	})

	var ins, upd recordColumns
	var unindex, indexIDs, indexBodies []string
	for _, d := range p.last.Values() {
		id := d.rec.ID
		if a.inTable[id] {
			upd.add(d)
		} else {
			ins.add(d)
		}
		if domain.SearchFields(d.rec.Type) == nil {
			continue
		}
		if text := domain.SearchText(d.rec); text == "" {
			unindex = append(unindex, string(id))
		} else {
			indexIDs, indexBodies = append(indexIDs, string(id)), append(indexBodies, text)
		}
	}
	if n := int64(len(ins.ids)); n > 0 {
		b.Queue(`INSERT INTO records (id, type, team_id, service_id, young_person_id, state, updated_seq, deleted, erased, field_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], $8::boolean[], $9::boolean[], $10::bigint[])
			ON CONFLICT (id) DO NOTHING`, ins.args()...).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != n {
				// Another node created one of them since this one found
				// none: this merge missed its ops.
				return errRetry
			}
			return nil
		})
	}
	if len(upd.ids) > 0 {
		// Locked since read: nobody changed them since the merges read them.
		queueGeneric(b, updateRecordsSQL, upd.args()...)
	}
	// A record that must not be found leaves the index (indexRecord).
	if len(unindex) > 0 {
		queueGeneric(b, unindexSQL, unindex)
	}
	if len(indexIDs) > 0 {
		b.Queue(`INSERT INTO record_search (record_id, body) SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT (record_id) DO UPDATE SET body = excluded.body WHERE record_search.body <> excluded.body`, indexIDs, indexBodies)
	}
	if err := a.tx.SendBatch(a.ctx, b).Close(); err != nil {
		return err
	}
	for _, id := range ins.ids {
		a.inTable[syncengine.RecordID(id)] = true
	}
	return nil
}

// recordColumns are rows of the records table as one array per column.
type recordColumns struct {
	ids, types           []string
	teams, services, yps []*string
	states               [][]byte
	seqs, fieldAt        []int64
	deleted, erased      []bool
}

func (c *recordColumns) add(d dirtyRecord) {
	rec := d.rec
	c.ids = append(c.ids, string(rec.ID))
	c.types = append(c.types, rec.Type)
	c.teams = append(c.teams, textOrNull(d.team))
	c.services = append(c.services, textOrNull(d.service))
	c.yps = append(c.yps, textOrNull(d.yp))
	c.states = append(c.states, syncengine.EncodeRecord(rec))
	c.seqs = append(c.seqs, d.seq)
	c.deleted = append(c.deleted, rec.Deleted())
	c.erased = append(c.erased, rec.Erased != nil)
	c.fieldAt = append(c.fieldAt, domain.FieldAt(rec))
}

func (c *recordColumns) args() []any {
	return []any{c.ids, c.types, c.teams, c.services, c.yps, c.states, c.seqs, c.deleted, c.erased, c.fieldAt}
}

// textOrNull is s, or NULL if empty, as an array element.
func textOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// The statements of a request's end that a kept generic plan must run by
// index whatever the tables held when it was planned (see prefetch.go's
// key lists; TestKeyListStatementsProbeIndexes).
const (
	// The held items a stored change wakes: each (record, replica) key, the
	// same record with any replica, and items waiting for anything, each
	// looked up in held_waits' key. A join over the keys was planned over
	// an empty table as a full scan of held_waits with a hashed list.
	heldWokenSQL = `SELECT DISTINCT w.quarantine_id
		FROM (SELECT k.record_id, v.replica_id FROM unnest($1::text[], $2::text[]) k (record_id, replica_id),
				LATERAL (VALUES (k.replica_id), ('*')) v (replica_id)
			UNION ALL SELECT '*', '*') k
		CROSS JOIN LATERAL (SELECT w.quarantine_id FROM held_waits w WHERE w.record_id = k.record_id AND w.replica_id = k.replica_id OFFSET 0) w
		ORDER BY w.quarantine_id`
	// The ids again as = ANY: joined to the array alone, a plan made over
	// an empty records table hashed the array and scanned every record.
	unindexSQL       = `DELETE FROM record_search WHERE record_id = ANY($1::text[])`
	updateRecordsSQL = `UPDATE records r SET type = u.type, team_id = u.team_id, service_id = u.service_id, young_person_id = u.young_person_id,
			state = u.state, updated_seq = u.updated_seq, deleted = u.deleted, erased = u.erased, field_at = u.field_at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], $8::boolean[], $9::boolean[], $10::bigint[])
				u (id, type, team_id, service_id, young_person_id, state, updated_seq, deleted, erased, field_at)
			WHERE r.id = u.id AND r.id = ANY($1::text[])`
)

// queueGeneric queues a statement to run on its generic plan from the
// first execution, the session's plan_cache_mode put back after it.
// Postgres plans a prepared statement afresh on each run for as long as a
// custom plan looks cheaper than the generic one, which for a statement
// over a short array of keys is for ever: the records update and the
// search delete were planned on every request, some 65 ms of Postgres's
// time in a week push, for 15 ms of these statements. (The outbox cancel,
// also planned every time, ran slower on its generic plan.) Only
// statements whose generic plan TestKeyListStatementsProbeIndexes checks
// may be queued here.
func queueGeneric(b *pgx.Batch, sql string, args ...any) {
	b.Queue(`SELECT set_config('joinedup.plan_cache_mode', current_setting('plan_cache_mode'), true),
		set_config('plan_cache_mode', 'force_generic_plan', true)`)
	b.Queue(sql, args...)
	b.Queue(`SELECT set_config('plan_cache_mode', current_setting('joinedup.plan_cache_mode'), true)`)
}
