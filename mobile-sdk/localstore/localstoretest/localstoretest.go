// Package localstoretest is the conformance suite of localstore.Store: the
// native SQLite store runs it under `go test`, the IndexedDB store runs it
// compiled to WebAssembly inside headless Chromium. A behaviour the SDK
// relies on belongs here, so the two cannot drift apart.
package localstoretest

import (
	"bytes"
	"math/rand/v2"
	"slices"
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
		{"a sync batch: ack, refuse, hold, release, resend", testBatch},
		{"a reset and drops, and a batch is all or nothing", testReset},
		{"purge rewrites and forgets", testRewrite},
		{"find: lists, chronology, follow-ups", testFind},
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
	if n, err := s.Counts(); err != nil || n.Outbox != 1 || n.Records != 1 {
		t.Fatalf("counts = %+v, %v; want 1 pending, 1 record", n, err)
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
	if err := localstore.Acknowledge(s, 1, want[0], 999999); err != nil {
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
		if err := s.Write(&localstore.Batch{Hold: []*syncengine.Changeset{cs}}); err != nil {
			t.Fatalf("hold: %v", err)
		}
	}
	in, err := s.Inbox()
	if err != nil || len(in) != 2 || in[0].Start != cs1.Start || in[1].Start != cs2.Start {
		t.Fatalf("inbox = %v, %v; want the two changesets in counter order", in, err)
	}
	if n, _ := s.Counts(); n.Inbox != 2 {
		t.Fatalf("inbox count = %d, want 2", n.Inbox)
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
	if err := s.Write(&localstore.Batch{Hold: []*syncengine.Changeset{ocs}}); err != nil {
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
	if removed, err := s.Wipe(); err != nil || len(removed) == 0 {
		t.Fatalf("wipe: removed %v, %v; want something removed and no error", removed, err)
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
	if err := s.Write(&localstore.Batch{Put: []*syncengine.Record{snap}}); err != nil {
		t.Fatalf("put snapshot: %v", err)
	}
	recs, err := s.Find(localstore.Query{Type: syncengine.TypeEncounter})
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
	if none, err := s.Find(localstore.Query{Type: syncengine.TypeFollowUp}); err != nil || len(none) != 0 {
		t.Fatalf("follow-ups = %v, %v; want none", none, err)
	}
}

func counts(t *testing.T, s localstore.Store) localstore.Counts {
	t.Helper()
	n, err := s.Counts()
	if err != nil {
		t.Fatalf("counts: %v", err)
	}
	return n
}

func queued(t *testing.T, s localstore.Store, queue string) []localstore.Queued {
	t.Helper()
	qs, err := s.Queued()
	if err != nil {
		t.Fatalf("queued: %v", err)
	}
	var out []localstore.Queued
	for _, q := range qs {
		if q.Queue == queue {
			out = append(out, q)
		}
	}
	return out
}

func write(t *testing.T, s localstore.Store, b *localstore.Batch) {
	t.Helper()
	if err := s.Write(b); err != nil {
		t.Fatalf("write %+v: %v", b, err)
	}
}

// testBatch follows a sync's writes: acknowledged saves move to sent (and
// come back with Resend), refused ones and inapplicable received ones move
// to quarantine with their reason, and Release takes them off.
func testBatch(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	self := replicaID(t, 11)
	rep := phone(t, s, self)
	a, _ := encounter(t, rep, "accepted")
	r, _ := encounter(t, rep, "refused")
	other := newReplica(t, replicaID(t, 12), syncengine.NewMemStore(), 0, 0)
	bad, _ := encounter(t, other, "cannot apply here")
	write(t, s, &localstore.Batch{At: 1000, Ack: []uint64{a.Start}, Hold: []*syncengine.Changeset{bad},
		Refuse: []localstore.Refusal{{Key: localstore.Key{Queue: localstore.QueueOutbox, Start: r.Start}, Code: "forbidden", Message: "not yours"}},
		Meta:   map[string]string{"cursor": "c1"}, Secrets: map[string]string{"credential": "new-cred"}})
	if es := outbox(t, s, 0); len(es) != 0 {
		t.Fatalf("outbox after ack and refusal = %v, want empty", starts(es))
	}
	if got, _ := s.Secret("credential"); got != "new-cred" || mustMeta(t, s, "cursor") != "c1" {
		t.Fatalf("batch meta and secret not stored: %q %q", got, mustMeta(t, s, "cursor"))
	}
	if sent := queued(t, s, localstore.QueueSent); len(sent) != 1 || sent[0].Start != a.Start || sent[0].Changeset == nil {
		t.Fatalf("sent = %+v, want the acknowledged save", sent)
	}
	write(t, s, &localstore.Batch{At: 2000, Refuse: []localstore.Refusal{{Key: localstore.Key{Queue: localstore.QueueInbox,
		Replica: bad.Replica.String(), Start: bad.Start}, Code: "malformed", Message: "does not apply"}}})
	q, err := s.Quarantined()
	if err != nil || len(q) != 2 {
		t.Fatalf("quarantined = %+v, %v; want two", q, err)
	}
	if q[0].Direction != "push" || q[0].Code != "forbidden" || q[0].Replica != self.String() || q[1].Direction != "pull" || q[1].At != 2000 {
		t.Fatalf("quarantined = %+v", q)
	}
	if n := counts(t, s); n.Inbox != 0 || n.Quarantined != 2 || n.SentOnly != 1 {
		t.Fatalf("counts = %+v", n)
	}
	qs := queued(t, s, localstore.QueueQuarantine)
	if len(qs) != 2 {
		t.Fatalf("queued quarantine = %+v", qs)
	}
	for _, x := range qs {
		if x.Changeset == nil {
			t.Fatalf("quarantined body does not decode: %+v", x)
		}
	}
	write(t, s, &localstore.Batch{Release: []localstore.Key{{Replica: self.String(), Start: r.Start}}})
	if q, _ := s.Quarantined(); len(q) != 1 || q[0].Direction != "pull" {
		t.Fatalf("after release: %+v", q)
	}
	write(t, s, &localstore.Batch{Resend: true, Meta: map[string]string{"cursor": ""}})
	if es := outbox(t, s, 0); len(es) != 1 || es[0].Start != a.Start || !bytes.Equal(es[0].Body, syncengine.EncodeChangeset(a)) {
		t.Fatalf("outbox after resend = %v, want the acknowledged save again", starts(es))
	}
	write(t, s, &localstore.Batch{PruneSentBefore: 1001})
	if sent := queued(t, s, localstore.QueueSent); len(sent) != 0 {
		t.Fatalf("sent after prune = %+v", sent)
	}
	if _, err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
}

func testReset(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 13))
	_, a := encounter(t, rep, "mine")
	_, b := encounter(t, rep, "dropped")
	other := newReplica(t, replicaID(t, 14), syncengine.NewMemStore(), 0, 0)
	held, c := encounter(t, other, "theirs")
	snap, _ := other.Record(c)
	write(t, s, &localstore.Batch{Hold: []*syncengine.Changeset{held}})
	write(t, s, &localstore.Batch{Drop: []syncengine.RecordID{b}})
	if r, _ := s.Record(b); r != nil {
		t.Fatal("dropped record still there")
	}
	write(t, s, &localstore.Batch{Reset: true, Put: []*syncengine.Record{snap}})
	if r, _ := s.Record(a); r != nil {
		t.Fatal("a reset kept a record")
	}
	if r, _ := s.Record(c); r == nil {
		t.Fatal("a reset lost the snapshot written with it")
	}
	if n := counts(t, s); n.Inbox != 0 || n.Outbox != 2 || n.Records != 1 {
		t.Fatalf("after reset: %+v; want the inbox emptied, the outbox kept", n)
	}
	// A batch that cannot be written leaves nothing of itself.
	err := s.Write(&localstore.Batch{Meta: map[string]string{"cursor": "half"}, Put: []*syncengine.Record{snap},
		Rewrite: []localstore.Queued{{Key: localstore.Key{Queue: "no-such-queue"}, Changeset: held}}})
	if err == nil {
		t.Fatal("a batch with a bad rewrite was accepted")
	}
	if got := mustMeta(t, s, "cursor"); got == "half" {
		t.Fatal("a failed batch stored part of itself")
	}
}

func testRewrite(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 15))
	a, _ := encounter(t, rep, "first")
	b, _ := encounter(t, rep, "second")
	other := newReplica(t, replicaID(t, 16), syncengine.NewMemStore(), 0, 0)
	held, _ := encounter(t, other, "theirs")
	write(t, s, &localstore.Batch{Hold: []*syncengine.Changeset{held}, Ack: []uint64{a.Start}})
	write(t, s, &localstore.Batch{Scrub: true,
		Rewrite: []localstore.Queued{
			{Key: localstore.Key{Queue: localstore.QueueOutbox, Start: b.Start}, Changeset: a},
			{Key: localstore.Key{Queue: localstore.QueueInbox, Replica: held.Replica.String(), Start: held.Start}, Changeset: held}},
		Forget: []localstore.Key{{Queue: localstore.QueueSent, Start: a.Start}}})
	if es := outbox(t, s, 0); len(es) != 1 || !bytes.Equal(es[0].Body, syncengine.EncodeChangeset(a)) {
		t.Fatal("the outbox entry was not rewritten")
	}
	if in, _ := s.Inbox(); len(in) != 1 || in[0].Start != held.Start {
		t.Fatalf("inbox after rewrite = %v", in)
	}
	if sent := queued(t, s, localstore.QueueSent); len(sent) != 0 {
		t.Fatalf("sent after forget = %+v", sent)
	}
}

// testFind holds both stores to the same lists: a young person's
// chronology, this week's encounters, a worker's open follow-ups.
func testFind(t *testing.T, open func() (localstore.Store, error)) {
	s := mustOpen(t, open)
	defer s.Close()
	rep := phone(t, s, replicaID(t, 17))
	var yp, e1, e2, fu, gone syncengine.RecordID
	_, err := rep.Edit("worker-1", func(tx *syncengine.Txn) error {
		var err error
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		for _, f := range [][2]string{{"team_id", "team-1"}, {"known_as", "Sam"}} {
			if err := tx.Set(yp, f[0], f[1]); err != nil {
				return err
			}
		}
		for i, at := range []string{"2026-11-30T22:00:00Z", "2026-11-30T20:00:00Z", "2026-11-29T20:00:00Z"} {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			for _, f := range [][2]string{{"team_id", "team-1"}, {"area", "Riverside"}, {"started_at", at}} {
				if err := tx.Set(id, f[0], f[1]); err != nil {
					return err
				}
			}
			switch i {
			case 0:
				e1 = id
				if err := tx.Add(id, "young_people", string(yp)); err != nil {
					return err
				}
			case 1:
				e2 = id
			case 2:
				gone = id
				if err := tx.Delete(id); err != nil {
					return err
				}
			}
		}
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		for _, f := range [][2]string{{"team_id", "team-1"}, {"young_person_id", string(yp)}, {"assignee", "worker-1"}, {"status", "open"}, {"due_at", "2026-12-01T10:00:00Z"}} {
			if err := tx.Set(fu, f[0], f[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	ms := func(v string) int64 { tm, _ := time.Parse(time.RFC3339, v); return tm.UnixMilli() }
	ids := func(recs []*syncengine.Record) []syncengine.RecordID {
		var out []syncengine.RecordID
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name string
		q    localstore.Query
		want []syncengine.RecordID
	}{
		{"tonight's encounters, earliest first", localstore.Query{Type: syncengine.TypeEncounter, Live: true,
			StartedFrom: ms("2026-11-30T00:00:00Z"), StartedTo: ms("2026-12-01T00:00:00Z"), Order: localstore.ByStarted}, []syncengine.RecordID{e2, e1}},
		{"deleted ones too when asked", localstore.Query{Type: syncengine.TypeEncounter, Order: localstore.ByStarted}, []syncengine.RecordID{gone, e2, e1}},
		{"chronology: profile first", localstore.Query{YoungPerson: string(yp), Live: true, Order: localstore.ByChronology}, []syncengine.RecordID{yp, e1, fu}},
		{"my open follow-ups", localstore.Query{Type: syncengine.TypeFollowUp, Live: true, Status: "open", Assignee: "worker-1",
			DueBefore: ms("2026-12-02T00:00:00Z"), Order: localstore.ByDue}, []syncengine.RecordID{fu}},
		{"someone else's follow-ups", localstore.Query{Type: syncengine.TypeFollowUp, Assignee: "worker-2"}, nil},
		{"not due yet", localstore.Query{Type: syncengine.TypeFollowUp, DueBefore: ms("2026-12-01T00:00:00Z")}, nil},
	}
	for _, tt := range tests {
		got, err := s.Find(tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if g := ids(got); len(g) != len(tt.want) || (len(g) > 0 && !slices.Equal(g, tt.want)) {
			t.Errorf("%s: got %v, want %v", tt.name, g, tt.want)
		}
	}
}
