package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// TestMergedNoteOverItsLimitIsKept: two phones each add to the same note
// offline, each within its 20,000-character limit, together beyond it. Both
// saves are accepted (the second used to be quarantined, vanishing from
// every phone with nothing to release), every phone ends with the same note,
// and the record is flagged as over its limit.
func TestMergedNoteOverItsLimitIsKept(t *testing.T) {
	e := newEnv(t)
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a.syncAll()
	b.syncAll()
	enc := a.newEncounter("team_a", "Met J.")
	a.syncAll()
	b.syncAll()
	for _, p := range []*phone{a, b} {
		who := p.person
		p.edit(func(tx *syncengine.Txn) error {
			return tx.InsertText(enc, "note", 6, strings.Repeat(" "+who+" wrote this.", 12000/len(" "+who+" wrote this.")))
		})
	}
	for _, p := range []*phone{a, b} {
		r := p.sync(0)
		if r.status != 200 || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
			t.Fatalf("%s's save: %d %s", p.person, r.status, r.raw)
		}
	}
	a.syncAll()
	b.syncAll()
	server := e.serverState(enc)
	if !bytes.Equal(a.state(enc), server) || !bytes.Equal(b.state(enc), server) {
		t.Fatal("phones and server differ after the merge")
	}
	rec, err := syncengine.DecodeRecord(server)
	must(t, err)
	if len(syncengine.OverLimits(rec)) != 1 {
		t.Fatalf("merged record not flagged over its limit: %v", syncengine.OverLimits(rec))
	}
}
