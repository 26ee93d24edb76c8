// Package localstoretest is the conformance suite of localstore.Store: the
// native SQLite store runs it under `go test`, the IndexedDB store runs it
// compiled to WebAssembly inside headless Chromium. A behaviour the SDK
// relies on belongs here, so the two cannot drift apart.
package localstoretest

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// Fresh returns a function that opens (and, called again after Close,
// reopens) one new, empty store.
type Fresh func(t *testing.T) func() (localstore.Store, error)

// Run runs every conformance test against the store fresh makes.
func Run(t *testing.T, fresh Fresh) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() (localstore.Store, error))
	}{
		{"meta", testMeta},
		{"secret is sealed", testSecret},
		{"a local save is queued once", testLocalSave},
		{"outbox order, budget and acknowledgement", testOutbox},
		{"inbox order, duplicates, and apply takes it off", testInbox},
		{"everything survives reopening", testReopen},
		{"records by type, and snapshots", testRecords},
		{"wipe leaves nothing", testWipe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, fresh(t)) })
	}
}

func mustOpen(t *testing.T, open func() (localstore.Store, error)) localstore.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func replicaID(t *testing.T, seed uint64) syncengine.ReplicaID {
	t.Helper()
	id, err := syncengine.NewReplicaID(rand.NewChaCha8([32]byte{byte(seed)}))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// phone is a replica over the store under test, enrolled as id.
func phone(t *testing.T, s localstore.Store, id syncengine.ReplicaID) *syncengine.Replica {
	t.Helper()
	if err := s.SetMeta(map[string]string{"replica_id": id.String()}); err != nil {
		t.Fatalf("set replica id: %v", err)
	}
	counter, _ := strconv.ParseUint(mustMeta(t, s, "counter"), 10, 64)
	hlc, _ := strconv.ParseInt(mustMeta(t, s, "hlc"), 10, 64)
	return newReplica(t, id, s, counter, hlc)
}

func newReplica(t *testing.T, id syncengine.ReplicaID, s syncengine.RecordStore, counter uint64, hlc int64) *syncengine.Replica {
	t.Helper()
	clock := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Store: s, Counter: counter, Clock: syncengine.Timestamp(hlc),
		Now: func() time.Time { clock = clock.Add(time.Second); return clock }, Rand: rand.NewChaCha8(seed(id, counter))})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// seed differs per replica and per run of it, so record ids never collide.
func seed(id syncengine.ReplicaID, counter uint64) (s [32]byte) {
	copy(s[:], id.String())
	s[31] = byte(counter)
	return s
}

func mustMeta(t *testing.T, s localstore.Store, key string) string {
	t.Helper()
	v, err := s.Meta(key)
	if err != nil {
		t.Fatalf("meta %s: %v", key, err)
	}
	return v
}

// encounter saves a new encounter with a note; it returns the changeset.
func encounter(t *testing.T, rep *syncengine.Replica, note string) (*syncengine.Changeset, syncengine.RecordID) {
	t.Helper()
	var id syncengine.RecordID
	cs, err := rep.Edit("worker-1", func(tx *syncengine.Txn) error {
		var err error
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for f, v := range map[string]string{"area": "Riverside", "team_id": "team-1", "started_at": "2026-11-30T21:00:00Z"} {
			if err := tx.Set(id, f, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, note)
	})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return cs, id
}

func outbox(t *testing.T, s localstore.Store, max int) []localstore.Entry {
	t.Helper()
	es, err := s.Outbox(max)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return es
}

func starts(es []localstore.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Start)
	}
	return out
}

func testMeta(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	if v := mustMeta(t, s, "cursor"); v != "" {
		t.Fatalf("unset meta = %q, want empty", v)
	}
	if err := s.SetMeta(map[string]string{"cursor": "c1", "server_url": "http://x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(map[string]string{"cursor": "c2"}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"cursor": "c2", "server_url": "http://x"} {
		if got := mustMeta(t, s, k); got != want {
			t.Errorf("meta %s = %q, want %q", k, got, want)
		}
	}
}

func testSecret(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	if err := s.SetSecret("credential", "device-secret-123"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Secret("credential")
	if err != nil || got != "device-secret-123" {
		t.Fatalf("secret = %q, %v; want the value back", got, err)
	}
	if plain := mustMeta(t, s, "credential"); bytes.Contains([]byte(plain), []byte("device-secret-123")) {
		t.Fatalf("the secret is readable as plain meta: %q", plain)
	}
}

func testLocalSave(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 1))
	cs, id := encounter(t, rep, "met two young people by the shops")
	es := outbox(t, s, 0)
	if len(es) != 1 || es[0].Start != cs.Start {
		t.Fatalf("outbox = %v, want one entry starting at %d", starts(es), cs.Start)
	}
	if !bytes.Equal(es[0].Body, syncengine.EncodeChangeset(cs)) {
		t.Fatal("the queued frame is not the changeset")
	}
	if got := mustMeta(t, s, "counter"); got != strconv.FormatUint(cs.End(), 10) {
		t.Fatalf("counter = %q, want %d", got, cs.End())
	}
	r, err := s.Record(id)
	if err != nil || r == nil || r.String("note") != "met two young people by the shops" {
		t.Fatalf("record = %v, %v; want the note", r, err)
	}
	// Our own changeset committed again (replayed over a snapshot) is
	// already queued: it must not be queued twice.
	recs := []*syncengine.Record{r}
	if err := s.Commit(cs, recs); err != nil {
		t.Fatal(err)
	}
	if es := outbox(t, s, 0); len(es) != 1 {
		t.Fatalf("replayed save queued again: outbox %v", starts(es))
	}
	if n, _, err := s.Counts(); err != nil || n != 1 {
		t.Fatalf("counts = %d, %v; want 1 pending", n, err)
	}
	if missing, err := s.Record("no-such-record"); err != nil || missing != nil {
		t.Fatalf("missing record = %v, %v; want nil, nil", missing, err)
	}
}

func testOutbox(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 2))
	var want []uint64
	for _, note := range []string{"one", "two", "three"} {
		cs, _ := encounter(t, rep, note)
		want = append(want, cs.Start)
	}
	if got := starts(outbox(t, s, 0)); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("outbox = %v, want %v", got, want)
	}
	if got := outbox(t, s, 1); len(got) != 1 || got[0].Start != want[0] {
		t.Fatalf("a tiny budget gave %v, want only the oldest", starts(got))
	}
	if err := s.Acknowledge([]uint64{want[0], 999999}); err != nil {
		t.Fatalf("acknowledge (with an unknown start): %v", err)
	}
	if got := starts(outbox(t, s, 0)); len(got) != 2 || got[0] != want[1] {
		t.Fatalf("after acknowledging the first: %v, want %v", got, want[1:])
	}
}

func testInbox(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 3))
	other := newReplica(t, replicaID(t, 4), syncengine.NewMemStore(), 0, 0)
	cs1, _ := encounter(t, other, "from the other phone")
	cs2, _ := encounter(t, other, "and again")
	for _, cs := range []*syncengine.Changeset{cs2, cs1, cs1} {
		if err := s.PutInbox(cs, syncengine.EncodeChangeset(cs)); err != nil {
			t.Fatalf("put inbox: %v", err)
		}
	}
	in, err := s.Inbox()
	if err != nil || len(in) != 2 || in[0].Start != cs1.Start || in[1].Start != cs2.Start {
		t.Fatalf("inbox = %v, %v; want the two changesets in counter order", in, err)
	}
	if _, n, _ := s.Counts(); n != 2 {
		t.Fatalf("inbox count = %d, want 2", n)
	}
	if _, err := rep.Apply(in[0]); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if in, _ := s.Inbox(); len(in) != 1 || in[0].Start != cs2.Start {
		t.Fatalf("after applying the first, inbox = %v", in)
	}
	if es := outbox(t, s, 0); len(es) != 0 {
		t.Fatalf("another phone's changeset was queued for sending: %v", starts(es))
	}
}

func testReopen(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	id := replicaID(t, 5)
	rep := phone(t, s, id)
	cs, rid := encounter(t, rep, "written offline")
	other := newReplica(t, replicaID(t, 6), syncengine.NewMemStore(), 0, 0)
	ocs, _ := encounter(t, other, "held")
	if err := s.PutInbox(ocs, syncengine.EncodeChangeset(ocs)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(map[string]string{"cursor": "after-page-3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret("credential", "cred"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = mustOpen(t, open)
	defer s.Close()
	if got := mustMeta(t, s, "cursor"); got != "after-page-3" {
		t.Errorf("cursor after reopen = %q", got)
	}
	if got, err := s.Secret("credential"); err != nil || got != "cred" {
		t.Errorf("credential after reopen = %q, %v", got, err)
	}
	if es := outbox(t, s, 0); len(es) != 1 || es[0].Start != cs.Start {
		t.Errorf("outbox after reopen = %v", starts(es))
	}
	if in, err := s.Inbox(); err != nil || len(in) != 1 {
		t.Errorf("inbox after reopen = %v, %v", in, err)
	}
	if r, err := s.Record(rid); err != nil || r == nil || r.String("note") != "written offline" {
		t.Errorf("record after reopen = %v, %v", r, err)
	}
	// The next save continues the counter: it is queued, not taken for a replay.
	rep = phone(t, s, id)
	next, _ := encounter(t, rep, "after reopening")
	if next.Start <= cs.End()-1 {
		t.Fatalf("next save starts at %d, inside the previous one (ends %d)", next.Start, cs.End())
	}
	if es := outbox(t, s, 0); len(es) != 2 {
		t.Errorf("outbox after a save on the reopened store = %v", starts(es))
	}
}

func testWipe(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	rep := phone(t, s, replicaID(t, 8))
	_, rid := encounter(t, rep, "to be wiped")
	if err := s.SetSecret("credential", "cred"); err != nil {
		t.Fatal(err)
	}
	if err := s.Wipe(); err != nil {
		t.Fatalf("wipe: %v", err)
	}
	s = mustOpen(t, open)
	defer s.Close()
	for _, k := range []string{"replica_id", "counter", "credential"} {
		if v := mustMeta(t, s, k); v != "" {
			t.Errorf("meta %s survived the wipe: %q", k, v)
		}
	}
	if es := outbox(t, s, 0); len(es) != 0 {
		t.Errorf("outbox survived the wipe: %v", starts(es))
	}
	if r, err := s.Record(rid); err != nil || r != nil {
		t.Errorf("record survived the wipe: %v, %v", r, err)
	}
}

func testRecords(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 9))
	_, a := encounter(t, rep, "first")
	other := newReplica(t, replicaID(t, 10), syncengine.NewMemStore(), 0, 0)
	_, b := encounter(t, other, "from the server")
	snap, err := other.Record(b)
	if err != nil || snap == nil {
		t.Fatalf("other record: %v", err)
	}
	if err := s.PutSnapshot([]*syncengine.Record{snap}); err != nil {
		t.Fatalf("put snapshot: %v", err)
	}
	recs, err := s.Records(syncengine.TypeEncounter)
	if err != nil || len(recs) != 2 {
		t.Fatalf("encounters = %d, %v; want 2", len(recs), err)
	}
	got := map[syncengine.RecordID]string{}
	for _, r := range recs {
		got[r.ID] = r.String("note")
	}
	if got[a] != "first" || got[b] != "from the server" {
		t.Fatalf("encounters = %v", got)
	}
	if es := outbox(t, s, 0); len(es) != 1 {
		t.Fatalf("a snapshot was queued for sending: outbox %v", starts(es))
	}
	if none, err := s.Records(syncengine.TypeFollowUp); err != nil || len(none) != 0 {
		t.Fatalf("follow-ups = %v, %v; want none", none, err)
	}
}
