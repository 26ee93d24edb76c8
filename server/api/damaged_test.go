package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// flip4 flips four bytes in the middle of a stored blob, below SQLite (its
// integrity check still passes), as a failing disk or a stray write would.
func (e *env) flip4(table, col, key string, id any) {
	e.t.Helper()
	var b []byte
	must(e.t, e.db.SQL().QueryRow(`SELECT `+col+` FROM `+table+` WHERE `+key+` = ?`, id).Scan(&b))
	i := len(b) / 2
	for j := i; j < i+4 && j < len(b); j++ {
		b[j] ^= 0x5a
	}
	_, err := e.db.SQL().Exec(`UPDATE `+table+` SET `+col+` = ? WHERE `+key+` = ?`, b, id)
	must(e.t, err)
}

func (e *env) serverState(id syncengine.RecordID) []byte {
	e.t.Helper()
	var b []byte
	must(e.t, e.db.SQL().QueryRow(`SELECT state FROM records WHERE id = ?`, string(id)).Scan(&b))
	return b
}

func (p *phone) state(id syncengine.RecordID) []byte {
	r, _ := p.store.Record(id)
	if r == nil {
		return nil
	}
	return syncengine.EncodeRecord(r)
}

// TestDamagedRecordIsIsolated: one record's stored state is damaged. A new
// phone of the team still completes its first sync, without that record and
// told so; /readyz reports it by count; the next edit to it is never blamed
// on the phone. With its history in the log the record is rebuilt at once;
// with its history compacted away the edit waits (held) and the team syncs on.
func TestDamagedRecordIsIsolated(t *testing.T) {
	for _, compacted := range []bool{false, true} {
		name := map[bool]string{false: "history in the log", true: "history compacted"}[compacted]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			a := e.enrolPhone("w_a")
			a.syncAll()
			x := a.newEncounter("team_a", "Talked about college.")
			y := a.newEncounter("team_a", "Walked home together.")
			a.syncAll()
			a.syncAll()
			if compacted {
				e.now = e.now.Add(time.Minute)
				res, err := e.db.CompactLog(context.Background(), time.Hour)
				must(t, err)
				if res.Changesets == 0 {
					t.Fatal("nothing compacted")
				}
			}
			e.flip4("records", "state", "id", string(x))

			fresh := e.enrolPhone("w_a2")
			var damaged []string
			for i := 0; i < 100; i++ {
				r := fresh.sync(0)
				if r.status != 200 {
					t.Fatalf("first sync of a new phone with a damaged record in its team: %d %s", r.status, r.raw)
				}
				damaged = append(damaged, r.Damaged...)
				if !r.More {
					break
				}
			}
			if !fresh.has(y) {
				t.Fatal("the sound record of the team did not reach the new phone")
			}
			// The portal's lists of the team still load.
			if recs, err := e.db.Records(context.Background(), domain.RecordFilter{TeamIDs: []string{"team_a"}}); err != nil || len(recs) == 0 {
				t.Fatalf("team's record list with a damaged record: %d records, %v", len(recs), err)
			}
			if compacted {
				if fresh.has(x) || len(damaged) != 1 || damaged[0] != string(x) {
					t.Fatalf("damaged record: sent %v, marked %v", fresh.has(x), damaged)
				}
				r := e.do("GET", "/readyz", nil, nil)
				if r.status != 200 || !strings.Contains(string(r.body), `"degraded"`) || strings.Contains(string(r.body), "college") {
					t.Fatalf("readyz with a damaged record: %d %s", r.status, r.body)
				}
			} else if !bytes.Equal(fresh.state(x), a.state(x)) {
				t.Fatal("record rebuilt from the log differs from the phone's copy")
			}

			a.edit(func(tx *syncengine.Txn) error { return tx.InsertText(x, "note", 0, "Again: ") })
			r := a.sync(0)
			if r.status != 200 || len(r.Results) != 1 {
				t.Fatalf("edit of the damaged record: %d %s", r.status, r.raw)
			}
			got := r.Results[0]
			if compacted {
				if got.Status != protocol.StatusQuarantined || got.Code != domain.EMISSINGDEP || !strings.Contains(got.Message, "damaged") {
					t.Fatalf("edit of an unrebuildable damaged record: %+v, want held (missing_dependency) naming the damage", got)
				}
			} else {
				if got.Status != protocol.StatusAccepted {
					t.Fatalf("edit of a damaged record with its history: %+v, want accepted", got)
				}
				a.syncAll()
				fresh.syncAll()
				if !bytes.Equal(fresh.state(x), e.serverState(x)) || !bytes.Equal(a.state(x), e.serverState(x)) {
					t.Fatal("phones and server differ after the repair")
				}
			}
			// The rest of the team goes on syncing.
			b := fresh.newEncounter("team_a", "A new day.")
			if r := fresh.sync(0); r.status != 200 || r.Results[0].Status != protocol.StatusAccepted {
				t.Fatalf("team blocked by a damaged record: %d %s", r.status, r.raw)
			}
			a.syncAll()
			if !a.has(b) {
				t.Fatal("a phone of the team stopped receiving")
			}
		})
	}
}

// TestDamagedChangesetIsNotDecoded: four flipped bytes in a stored changeset
// are detected: a phone pulling history past it receives the records it
// touched whole instead, equal to the server's, and the phone that wrote it
// repairs the stored copy by pushing it again.
func TestDamagedChangesetIsNotDecoded(t *testing.T) {
	e := newEnv(t)
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a.syncAll()
	b.syncAll()
	x := a.newEncounter("team_a", "Talked about college and about the new flat near the market.")
	cs := a.outbox[0]
	a.syncAll()
	var seq int64
	must(t, e.db.SQL().QueryRow(`SELECT MAX(seq) FROM changesets`).Scan(&seq))
	e.flip4("changesets", "body", "seq", seq)

	r := b.sync(0)
	if r.status != 200 || len(r.Changesets) != 0 {
		t.Fatalf("pull past a damaged changeset: %d, %d changesets sent: %s", r.status, len(r.Changesets), r.raw)
	}
	b.syncAll()
	if !bytes.Equal(b.state(x), e.serverState(x)) {
		t.Fatal("the phone's copy differs from the server's after a damaged changeset")
	}
	if r := e.do("GET", "/readyz", nil, nil); !strings.Contains(string(r.body), `"damaged":1`) {
		t.Fatalf("readyz does not count the damaged changeset: %s", r.body)
	}
	a.outbox = []*syncengine.Changeset{cs}
	if r := a.sync(0); r.status != 200 || r.Results[0].Status != protocol.StatusDuplicate {
		t.Fatalf("re-push of the damaged changeset: %d %s", r.status, r.raw)
	}
	var body []byte
	must(t, e.db.SQL().QueryRow(`SELECT body FROM changesets WHERE seq = ?`, seq).Scan(&body))
	if !bytes.Equal(body, syncengine.EncodeChangeset(cs)) {
		t.Fatal("the stored changeset was not repaired from the phone's copy")
	}
	if r := e.do("GET", "/readyz", nil, nil); !strings.Contains(string(r.body), `"ready"`) {
		t.Fatalf("readyz after the repair: %s", r.body)
	}
}
