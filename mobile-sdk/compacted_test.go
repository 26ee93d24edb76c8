package mobilesdk

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

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
	p1, p2 := s.phone("w_a"), s.phone("w_a2")
	must(t, p1.SetDefaultTeam("team_a"))
	must(t, p2.SetDefaultTeam("team_a"))
	id, before := compactedNote(t, s, p1, p2, 2000)
	text := str(t, view(t, p2, id), "note")
	server, err := s.db.RecordState(context.Background(), id)
	must(t, err)
	serverBytes := len(syncengine.EncodeRecord(server))

	idle := syncSum(t, p1).BytesDown // p1 is first: its pull brings the note
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
	_ = idle

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
	p1 := s.phone("w_a")
	must(t, p1.SetDefaultTeam("team_a"))
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

// A compacted state arrives while the phone holds an unsent save that
// names characters the compaction dropped (it typed after a word another
// worker deleted meanwhile): the save cannot be applied again on top of
// the server's state, so the phone keeps its copy as it was, the save in
// it. A plain compacted state over a copy it covers is taken.
func TestCompactedStateKeptOffAnUnsentSave(t *testing.T) {
	c := MustOpen(t, t.TempDir(), nil)
	enrolLocal(t, c, 1, "w1", "team1")
	id := mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"Met at the ."}`))
	// "ramp" typed back to front: four runs, so a compaction of its
	// tombstones drops the middle two ("a", "m").
	for _, ch := range []string{"p", "m", "a", "r"} {
		must(t, c.InsertText(id, "note", 11, ch))
	}
	sent, err := c.st.Outbox(0)
	must(t, err)
	self, err := c.st.Meta("replica_id")
	must(t, err)
	mine, err := c.st.Record(syncengine.RecordID(id))
	must(t, err)
	// The server's copy: another worker deleted "the ramp", then the
	// server compacted the note's text.
	other := syncengine.NewMemStore()
	other.Put(mine)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: syncengine.ReplicaID{9}, Now: time.Now, Rand: crand.Reader, Store: other})
	must(t, err)
	_, err = rep.Edit("w2", func(tx *syncengine.Txn) error { return tx.DeleteText(syncengine.RecordID(id), "note", 11, 4) })
	must(t, err)
	server, err := other.Record(syncengine.RecordID(id))
	must(t, err)
	if _, n := server.CompactTextKeeping(nil); n == 0 {
		t.Fatal("nothing compacted: the test tests nothing")
	}
	server, err = syncengine.DecodeRecord(syncengine.EncodeRecord(server))
	must(t, err)
	// The phone types after its "a" and has not sent it.
	must(t, c.InsertText(id, "note", 13, "X"))
	copyBefore, err := c.st.Record(syncengine.RecordID(id))
	must(t, err)
	hdr := &protocol.Response{Cursor: "c1", Compacted: []string{id}}
	for _, e := range sent {
		hdr.Results = append(hdr.Results, protocol.PushResult{Replica: self, Start: e.Start, Status: protocol.StatusAccepted})
	}
	sum := &syncSummary{}
	if _, _, err := c.storePage(c.st, sent, hdr, nil, [][]byte{syncengine.EncodeRecord(server)}, sum, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := str(t, view(t, c, id), "note"); got != "Met at the raXmp." || sum.Compacted != 0 {
		t.Fatalf("note %q (%d compacted states taken), want the phone's copy kept", got, sum.Compacted)
	}
	after, err := c.st.Record(syncengine.RecordID(id))
	must(t, err)
	if string(syncengine.EncodeRecord(after)) != string(syncengine.EncodeRecord(copyBefore)) {
		t.Fatal("the phone's copy changed")
	}
}
