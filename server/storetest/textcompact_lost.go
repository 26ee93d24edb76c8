package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// A phone lost without being revoked does not hold its team's text back for
// ever: once it has not been seen for the keep window (the history keep,
// after which log compaction sends it a fresh snapshot anyway), compaction
// goes ahead; with no window (0) every active phone still counts. When the
// phone turns up again, a save it typed before it was lost, naming text the
// compaction dropped, is placed as any late save is, and it converges with
// its teammate.
func testTextCompactionPastLostPhones(t *testing.T, e *env) {
	const keep = 30 * 24 * time.Hour
	a, lost := e.enrolPhone("w_a"), e.enrolPhone("w_a")
	id := a.encounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
	a.syncAll(0)
	lost.syncAll(0)
	// Typed on the lost phone before it went missing, never sent.
	lost.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 20, "FROM THE LOST PHONE ") })
	held := lost.outbox
	lost.outbox = nil
	churnNote(a, id, 3, 300)
	a.syncAll(0)
	a.reportCursor()

	res, err := e.s.CompactText(e.ctx, 0, keep)
	e.must(err)
	if res.Compacted != 0 || res.Waiting == 0 {
		t.Fatalf("compacted past a phone seen today that has not pulled the note: %+v", res)
	}
	e.advance(keep + time.Hour)
	a.reportCursor() // a is still in use
	res, err = e.s.CompactText(e.ctx, 0, 0)
	e.must(err)
	if res.Compacted != 0 || res.Waiting == 0 {
		t.Fatalf("with no keep window, compacted past an active phone: %+v", res)
	}
	res, err = e.s.CompactText(e.ctx, 0, keep)
	e.must(err)
	if res.Compacted != 1 {
		t.Fatalf("a phone unseen for longer than the keep window still holds the note back: %+v", res)
	}

	lost.outbox = held
	lost.syncAll(0)
	a.syncAll(0)
	lost.syncAll(0)
	want := a.record(id).String("note")
	if !strings.Contains(want, "FROM THE LOST PHONE") {
		t.Fatalf("the lost phone's save is not in the note: %q", want)
	}
	if got := lost.record(id).String("note"); got != want {
		t.Fatalf("the phones differ:\nlost %q\na    %q", got, want)
	}
	e.sameAsStore(a, id)
	e.sameAsStore(lost, id)
}
