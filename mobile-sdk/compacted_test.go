package mobilesdk

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// hookLink is the phone's link with a hook run once, when the server's
// answer to a sync has arrived and before the phone stores it: a save made
// there is one made while the pull was in flight, unsent when the answer is
// stored.
type hookLink struct {
	link
	inFlight func()
}

func (l *hookLink) send(ctx context.Context, method, url, cred, contentType, lang string, body []byte) (*reply, error) {
	r, err := l.link.send(ctx, method, url, cred, contentType, lang, body)
	if f := l.inFlight; f != nil && strings.HasSuffix(url, "/v1/sync") {
		l.inFlight = nil
		f()
	}
	return r, err
}

// hookedPhone is e2eServer.phone with a hookLink.
func (s *e2eServer) hookedPhone(person string) (*Client, *hookLink) {
	s.t.Helper()
	code, _, err := s.db.IssueEnrolmentCode(context.Background(), person, "sup_a")
	must(s.t, err)
	l := &hookLink{link: defaultLink()}
	c, err := open(s.t.TempDir(), testKey, "sim", options{now: func() time.Time { return s.now }, ownClock: true, link: l})
	must(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	mustS(s.t)(c.Enrol(s.url, code))
	mustS(s.t)(c.SyncNow())
	must(s.t, c.SetDefaultTeam("team_a"))
	return c, l
}

// teamPhone is e2eServer.phone saving into team_a.
func (s *e2eServer) teamPhone(person string) *Client {
	s.t.Helper()
	c := s.phone(person)
	must(s.t, c.SetDefaultTeam("team_a"))
	return c
}

// newEncounterTx creates an encounter of team1 with a note in tx.
func newEncounterTx(tx *syncengine.Txn, note string) error {
	id, err := tx.Create(syncengine.TypeEncounter)
	if err != nil {
		return err
	}
	for f, v := range map[string]any{"team_id": "team1", "area": "Park", "started_at": time.Now().Add(-time.Hour)} {
		if err := tx.Set(id, f, v); err != nil {
			return err
		}
	}
	return tx.InsertText(id, "note", 0, note)
}

// storedBytes is the size of the phone's stored copy of a record.
func storedBytes(tb testing.TB, c *Client, id string) int {
	tb.Helper()
	r, err := c.st.Record(syncengine.RecordID(id))
	must(tb, err)
	if r == nil {
		tb.Fatalf("the phone does not hold %s", id)
	}
	return len(syncengine.EncodeRecord(r))
}

// syncSum syncs and returns the summary.
func syncSum(tb testing.TB, c *Client) syncSummary {
	tb.Helper()
	var sum syncSummary
	must(tb, json.Unmarshal([]byte(mustS(tb)(c.SyncNow())), &sum))
	return sum
}

// churnOnPhone revises a note n times with single keystrokes at random
// places (seeded), syncing now and then, as a worker revising a note for
// months: most of what is typed is deleted again.
func churnOnPhone(tb testing.TB, c *Client, id string, seed uint64, n int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range n {
		length := len([]rune(str(tb, view(tb, c, id), "note")))
		if length > 8 && rng.IntN(60) < length {
			must(tb, c.DeleteText(id, "note", int64(rng.IntN(length)), 1))
		} else {
			must(tb, c.InsertText(id, "note", int64(rng.IntN(length+1)), string(rune('a'+rng.IntN(26)))))
		}
		if i%250 == 249 {
			syncOK(tb, c)
		}
	}
}

// compactedNote is a long-revised note on two phones, every phone's pull
// reported to the server, then compacted there.
func compactedNote(t *testing.T, s *e2eServer, p1, p2 *Client, edits int) (id string, before int) {
	t.Helper()
	id = mustS(t)(p1.CreateEncounter(`{"area":"Docks","note":"Met at the skate ramp; talked about school, home and the weekend."}`))
	syncOK(t, p1)
	churnOnPhone(t, p1, id, 1, edits)
	for range 2 { // the second sync tells the server how far the first pulled
		syncOK(t, p1)
		syncOK(t, p2)
	}
	before = storedBytes(t, p2, id)
	res, err := s.db.CompactText(context.Background(), 0, 0)
	must(t, err)
	if res.Compacted != 1 {
		t.Fatalf("compaction: %+v", res)
	}
	return id, before
}

// A long-revised note held by two phones: after the server compacts its
// text, each phone's next pull brings the smaller state and the phone's
// stored copy shrinks to the server's, showing the same text; the state is
// sent once; and the phones go on editing the note and converge.
func TestPhoneTakesCompactedNote(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	p1, p2 := s.teamPhone("w_a"), s.teamPhone("w_a2")
	id, before := compactedNote(t, s, p1, p2, 2000)
	text := str(t, view(t, p2, id), "note")
	server, err := s.db.RecordState(context.Background(), id)
	must(t, err)
	serverBytes := len(syncengine.EncodeRecord(server))

	if got := syncSum(t, p1); got.Compacted != 1 {
		t.Fatalf("phone 1 took %d compacted states, want 1: %+v", got.Compacted, got)
	}
	p1Bytes := storedBytes(t, p1, id)
	if p1Bytes != serverBytes {
		t.Fatalf("phone 1 keeps %d bytes of the note, the server %d", p1Bytes, serverBytes)
	}
	took := syncSum(t, p2)
	if took.Compacted != 1 {
		t.Fatalf("phone 2 took %d compacted states, want 1: %+v", took.Compacted, took)
	}
	after := storedBytes(t, p2, id)
	if after != serverBytes || after >= before || str(t, view(t, p2, id), "note") != text {
		t.Fatalf("phone 2's note: %d bytes before, %d after (server %d); text %q, was %q", before, after, serverBytes, str(t, view(t, p2, id), "note"), text)
	}
	again := syncSum(t, p2)
	if again.Compacted != 0 || again.Snapshots != 0 {
		t.Fatalf("the compacted state was sent again: %+v", again)
	}
	t.Logf("phone's stored note after %d keystrokes (%d characters): %d bytes before compaction, %d after; pull bytes: %d with the compacted note, %d for an idle pull",
		2000, len([]rune(text)), before, after, took.BytesDown, again.BytesDown)

	// Both go on editing the compacted note; they converge with the server.
	must(t, p1.InsertText(id, "note", 0, "Later: "))
	must(t, p2.DeleteText(id, "note", int64(len([]rune(text))-3), 2))
	must(t, p2.InsertText(id, "note", 3, "(2) "))
	for range 2 {
		syncOK(t, p1)
		syncOK(t, p2)
	}
	server, err = s.db.RecordState(context.Background(), id)
	must(t, err)
	want := server.String("note")
	if !strings.HasPrefix(want, "Later: ") || !strings.Contains(want, "(2) ") {
		t.Fatalf("an edit after compaction is lost: %q", want)
	}
	for i, c := range []*Client{p1, p2} {
		if got := str(t, view(t, c, id), "note"); got != want {
			t.Fatalf("phone %d shows %q, the server %q", i+1, got, want)
		}
	}
	sameRecords(t, "phone 1 vs phone 2", phoneRecords(t, p1), phoneRecords(t, p2))
}

// A phone that saves on the note while its pull (the one bringing the
// compacted state) is in flight loses nothing: it takes the compacted state
// only with its unsent save applied again on top; a save that cannot be
// (it names characters the server dropped) leaves its copy as it was. Its
// save then reaches the server and the other phone.
func TestUnsentSaveOverCompactedNote(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	p1 := s.teamPhone("w_a")
	p2, hook := s.hookedPhone("w_a2")
	id, before := compactedNote(t, s, p1, p2, 1000)
	text := str(t, view(t, p2, id), "note")
	hook.inFlight = func() { must(t, p2.InsertText(id, "note", 0, "KEEP ")) }
	sum := syncSum(t, p2)
	if hook.inFlight != nil {
		t.Fatal("the save was not made while the pull was in flight")
	}
	if got := str(t, view(t, p2, id), "note"); got != "KEEP "+text {
		t.Fatalf("phone 2 shows %q, want its save on the note %q", got, "KEEP "+text)
	}
	server, err := s.db.RecordState(context.Background(), id)
	must(t, err)
	if server.String("note") != text {
		t.Fatalf("the in-flight save reached the server in the same sync: the test tests nothing")
	}
	// The save names only characters every copy keeps, so it applies
	// again over the compacted state: the phone takes it.
	if sum.Compacted != 1 || storedBytes(t, p2, id) >= before {
		t.Fatalf("phone 2 took %d compacted states; its note is %d bytes, was %d", sum.Compacted, storedBytes(t, p2, id), before)
	}
	for range 2 {
		syncOK(t, p2)
		syncOK(t, p1)
	}
	server, err = s.db.RecordState(context.Background(), id)
	must(t, err)
	if want := server.String("note"); want != "KEEP "+text || str(t, view(t, p1, id), "note") != want || str(t, view(t, p2, id), "note") != want {
		t.Fatalf("server %q, phone 1 %q, phone 2 %q; want %q", want, str(t, view(t, p1, id), "note"), str(t, view(t, p2, id), "note"), "KEEP "+text)
	}
}

// compactCase is a phone holding a note ("Met at the ramp.", "ramp" typed
// back to front: four runs, so a compaction of its tombstones drops the
// middle two) and the server's answer to its sync: every save so far
// acknowledged, and snap marked compacted.
type compactCase struct {
	c    *Client
	id   string
	sent []localstore.Entry
	self string
}

func newCompactCase(t *testing.T) *compactCase {
	t.Helper()
	k := &compactCase{c: MustOpen(t, t.TempDir(), nil)}
	enrolLocal(t, k.c, 1, "w1", "team1")
	k.id = mustS(t)(k.c.CreateEncounter(`{"area":"Docks","note":"Met at the ."}`))
	for _, ch := range []string{"p", "m", "a", "r"} {
		must(t, k.c.InsertText(k.id, "note", 11, ch))
	}
	var err error
	k.self, err = k.c.st.Meta("replica_id")
	must(t, err)
	return k
}

// record is the phone's copy of the note.
func (k *compactCase) record(t *testing.T) *syncengine.Record {
	t.Helper()
	r, err := k.c.st.Record(syncengine.RecordID(k.id))
	must(t, err)
	return r
}

// acknowledge takes the phone's queued saves as the ones this sync sends.
func (k *compactCase) acknowledge(t *testing.T) {
	t.Helper()
	var err error
	k.sent, err = k.c.st.Outbox(0)
	must(t, err)
}

// serverEdit is the phone's copy with another worker's edit applied, then
// compacted as the server stores it: the record named want (the note
// unless the edit created another).
func serverEdit(t *testing.T, from *syncengine.Record, want func(id syncengine.RecordID) bool, fn func(tx *syncengine.Txn) error) *syncengine.Record {
	t.Helper()
	other := syncengine.NewMemStore()
	other.Put(from)
	var rid syncengine.ReplicaID // another worker's phone for each edit
	crand.Read(rid[:])
	rep, err := syncengine.NewReplica(syncengine.Config{ID: rid, Now: time.Now, Rand: crand.Reader, Store: other})
	must(t, err)
	if fn != nil {
		_, err = rep.Edit("w2", fn)
		must(t, err)
	}
	if want == nil {
		want = func(id syncengine.RecordID) bool { return id == from.ID }
	}
	for _, r := range other.Records() {
		if want(r.ID) {
			r.CompactTextKeeping(nil)
			r, err = syncengine.DecodeRecord(syncengine.EncodeRecord(r))
			must(t, err)
			return r
		}
	}
	t.Fatal("no such record")
	return nil
}

// answer stores the server's answer: k.sent acknowledged, snaps sent, the
// ids in marked marked compacted.
func (k *compactCase) answer(t *testing.T, marked []string, snaps ...*syncengine.Record) *syncSummary {
	t.Helper()
	hdr := &protocol.Response{Cursor: "c1", Compacted: marked}
	for _, e := range k.sent {
		hdr.Results = append(hdr.Results, protocol.PushResult{Replica: k.self, Start: e.Start, Status: protocol.StatusAccepted})
	}
	var frames [][]byte
	for _, r := range snaps {
		frames = append(frames, syncengine.EncodeRecord(r))
	}
	sum := &syncSummary{}
	if _, _, err := k.c.storePage(k.c.st, k.sent, hdr, nil, frames, sum, nil, false); err != nil {
		t.Fatal(err)
	}
	return sum
}

// rampDeletedThenTyped is a case's setup: another worker deleted "ramp" on
// the server, which compacted the note; the phone, not knowing, types "X"
// at position at and has not sent it.
func rampDeletedThenTyped(at int64) func(t *testing.T, k *compactCase) *syncengine.Record {
	return func(t *testing.T, k *compactCase) *syncengine.Record {
		k.acknowledge(t)
		srv := serverEdit(t, k.record(t), nil, func(tx *syncengine.Txn) error { return tx.DeleteText(syncengine.RecordID(k.id), "note", 11, 4) })
		must(t, k.c.InsertText(k.id, "note", at, "X"))
		return srv
	}
}

// A state marked compacted replaces the phone's copy only when nothing of
// the copy is lost: taken when it covers the copy, or covers it once the
// phone's unsent saves are applied again on top; otherwise the copy is
// kept as it was: an unsent save naming characters the compaction dropped
// (typed after its "a" while another worker deleted "ramp"), or a state
// older than the copy (it lacks a save this very sync acknowledged). A
// record the phone does not hold stays unheld.
func TestCompactedStateTakenOnlyWhenNothingIsLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup makes the phone's saves and returns the server's state.
		setup    func(t *testing.T, k *compactCase) *syncengine.Record
		want     string // the note afterwards
		taken    bool
		smaller  bool // the stored copy shrinks
		unheldID bool // the snapshot is of a record the phone does not hold
	}{
		{name: "covers the copy", want: "Met at the .", taken: true, smaller: true,
			setup: func(t *testing.T, k *compactCase) *syncengine.Record {
				must(t, k.c.DeleteText(k.id, "note", 11, 4))
				k.acknowledge(t)
				return serverEdit(t, k.record(t), nil, nil)
			}},
		{name: "unsent save applies on top", want: "XMet at the .", taken: true, setup: rampDeletedThenTyped(0)},
		{name: "unsent save names dropped text", want: "Met at the raXmp.", setup: rampDeletedThenTyped(13)},
		{name: "older than the copy", want: "Met at the amp.",
			setup: func(t *testing.T, k *compactCase) *syncengine.Record {
				srv := serverEdit(t, k.record(t), nil, nil)
				must(t, k.c.DeleteText(k.id, "note", 11, 1))
				k.acknowledge(t)
				return srv
			}},
		{name: "a record the phone does not hold", want: "Met at the ramp.", unheldID: true,
			setup: func(t *testing.T, k *compactCase) *syncengine.Record {
				k.acknowledge(t)
				return serverEdit(t, k.record(t), func(id syncengine.RecordID) bool { return string(id) != k.id }, func(tx *syncengine.Txn) error { return newEncounterTx(tx, "Not this phone's.") })
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newCompactCase(t)
			srv := tc.setup(t, k)
			before := k.record(t)
			beforeBytes := syncengine.EncodeRecord(before)
			sum := k.answer(t, []string{string(srv.ID)}, srv)
			if tc.unheldID {
				if r, err := k.c.st.Record(srv.ID); err != nil || r != nil {
					t.Fatalf("a record the phone did not hold is held now (%v)", err)
				}
			}
			after := k.record(t)
			if got := after.String("note"); got != tc.want {
				t.Fatalf("note %q, want %q", got, tc.want)
			}
			if (sum.Compacted == 1) != tc.taken {
				t.Fatalf("%d compacted states taken, want taken %v", sum.Compacted, tc.taken)
			}
			if !after.VV.Covers(before.VV) {
				t.Fatalf("the copy lost a change: %v, was %v", after.VV, before.VV)
			}
			if !tc.taken && string(syncengine.EncodeRecord(after)) != string(beforeBytes) {
				t.Fatal("a copy kept is not the copy as it was")
			}
			if tc.smaller && len(syncengine.EncodeRecord(after)) >= len(beforeBytes) {
				t.Fatalf("the copy did not shrink: %d bytes, was %d", len(syncengine.EncodeRecord(after)), len(beforeBytes))
			}
		})
	}
}

// Whatever a server sends marked compacted (states of the note along one
// history, older or newer than the phone's copy, several in one page, a
// record the phone does not hold, ids of nothing), with or without an
// unsent save on the note, the phone loses nothing: its copy afterwards
// covers its copy before, and shows its unsent words.
func FuzzCompactedAnswer(f *testing.F) {
	f.Add(uint8(0b00010), uint8(0), "")
	f.Add(uint8(0b00110), uint8(2), "r1")
	f.Add(uint8(0b11111), uint8(1), "")
	f.Add(uint8(0b10010), uint8(2), "not an id")
	f.Add(uint8(0b00101), uint8(128+2), "")
	f.Fuzz(func(t *testing.T, mask, unsent uint8, extra string) {
		k := newCompactCase(t)
		older := serverEdit(t, k.record(t), nil, nil) // before the last save
		must(t, k.c.DeleteText(k.id, "note", 11, 1))  // "Met at the amp."
		k.acknowledge(t)
		s0 := serverEdit(t, k.record(t), nil, nil)
		s1 := serverEdit(t, s0, nil, func(tx *syncengine.Txn) error { return tx.DeleteText(syncengine.RecordID(k.id), "note", 11, 3) })
		s2 := serverEdit(t, s1, nil, func(tx *syncengine.Txn) error { return tx.InsertText(syncengine.RecordID(k.id), "note", 0, "Y") })
		notHeld := serverEdit(t, s0, func(id syncengine.RecordID) bool { return string(id) != k.id }, func(tx *syncengine.Txn) error { return newEncounterTx(tx, "Not this phone's.") })
		switch unsent % 3 {
		case 1:
			must(t, k.c.InsertText(k.id, "note", 0, "X"))
		case 2:
			must(t, k.c.InsertText(k.id, "note", 12, "X")) // between "a" and "m": names dropped text
		}
		before := k.record(t)
		var snaps []*syncengine.Record
		marked := []string{extra}
		for i, r := range []*syncengine.Record{older, s0, s1, s2, notHeld} {
			if mask&(1<<i) != 0 {
				snaps = append(snaps, r)
				marked = append(marked, string(r.ID))
			}
		}
		if unsent >= 128 {
			slices.Reverse(snaps) // newer states first
		}
		k.answer(t, marked, snaps...)
		after := k.record(t)
		if !after.VV.Covers(before.VV) {
			t.Fatalf("the copy lost a change: %v, was %v", after.VV, before.VV)
		}
		if unsent%3 != 0 && !strings.Contains(after.String("note"), "X") {
			t.Fatalf("the unsent words are gone: %q", after.String("note"))
		}
		if r, err := k.c.st.Record(notHeld.ID); err != nil || r != nil {
			t.Fatalf("a record the phone did not hold is held now (%v)", err)
		}
	})
}
