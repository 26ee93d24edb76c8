package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// TestCompactedHistory: history every active phone has pulled is deleted from
// the log; a phone that was offline past the retention comes back to a reset
// and a snapshot, and ends with exactly what the others hold; a retried push
// of a compacted changeset is still a duplicate, never applied twice.
func TestCompactedHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a1, a2, away := e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_a")
	for _, p := range []*phone{a1, a2, away} {
		p.syncAll()
	}
	first := a1.newEncounter("team_a", "before the phone went away")
	old := a1.outbox[0]
	a1.syncAll()
	away.syncAll()
	// The third phone goes offline; the others keep working for two days.
	e.now = e.now.Add(48 * time.Hour)
	a1.edit(func(tx *syncengine.Txn) error { return tx.InsertText(first, "note", 0, "Edited later. ") })
	second := a2.newEncounter("team_a", "while it was away")
	for _, p := range []*phone{a1, a2, a1, a2} {
		p.syncAll()
	}
	before := e.count("changesets")
	res, err := e.db.CompactLog(ctx, 24*time.Hour)
	must(t, err)
	if res.Changesets == 0 || e.count("changesets") != before-int(res.Changesets) {
		t.Fatalf("compacted %+v, log %d -> %d", res, before, e.count("changesets"))
	}
	// Compacting again with nothing new is a no-op.
	if again, err := e.db.CompactLog(ctx, 24*time.Hour); err != nil || again.Changesets != 0 {
		t.Fatalf("second compaction: %+v %v", again, err)
	}

	r := away.sync(0)
	if !r.Reset {
		t.Fatalf("a phone behind the compacted log must be reset, got %s", r.raw)
	}
	away.syncAll()
	if !away.has(first) || !away.has(second) {
		t.Fatal("the returning phone is missing records")
	}
	for _, id := range []syncengine.RecordID{first, second} {
		want, _ := a1.store.Record(id)
		got, _ := away.store.Record(id)
		if !bytes.Equal(syncengine.EncodeRecord(want), syncengine.EncodeRecord(got)) {
			t.Fatalf("record %s differs after catching up", id)
		}
	}

	// A retry of a changeset whose log row is gone is still a duplicate.
	req, _ := json.Marshal(protocol.Request{Cursor: a1.cursor, Changesets: []string{base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(old))}})
	rr := e.do("POST", "/v1/sync", a1.auth(), req)
	var out protocol.Response
	rr.json(t, &out)
	if len(out.Results) != 1 || out.Results[0].Status != "duplicate" {
		t.Fatalf("retry after compaction: %s", rr.body)
	}
	got, _ := e.db.RecordState(ctx, string(first))
	if n := len(got.String("note")); n != len("Edited later. before the phone went away") {
		t.Fatalf("note changed by the retry: %q", got.String("note"))
	}
}
