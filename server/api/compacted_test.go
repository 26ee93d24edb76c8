package api_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// compactedNoteAPI is a note revised by many keystrokes, pulled by every
// phone (twice, so the server knows how far each pulled), then compacted.
func compactedNoteAPI(t *testing.T, e *env, phones ...*phone) syncengine.RecordID {
	t.Helper()
	a := phones[0]
	id := a.newEncounter("team_a", "Met at the skate ramp; talked about school, home and the weekend.")
	a.syncAll()
	rng := rand.New(rand.NewPCG(4, 7))
	for range 300 {
		r, _ := a.store.Record(id)
		length := len([]rune(r.String("note")))
		a.edit(func(tx *syncengine.Txn) error {
			if length > 8 && rng.IntN(60) < length {
				return tx.DeleteText(id, "note", rng.IntN(length), 1)
			}
			return tx.InsertText(id, "note", rng.IntN(length+1), string(rune('a'+rng.IntN(26))))
		})
	}
	for range 2 {
		for _, p := range phones {
			p.syncAll()
		}
	}
	res, err := e.db.CompactText(context.Background(), 0, 0)
	must(t, err)
	if res.Compacted != 1 {
		t.Fatalf("compaction: %+v", res)
	}
	return id
}

// binaryPull pulls one page in the binary envelope from cursor.
func (p *phone) binaryPull(t *testing.T, cursor string) (protocol.Response, [][][]byte) {
	t.Helper()
	body, err := protocol.Encode(protocol.Request{Cursor: cursor}, nil)
	must(t, err)
	r := p.e.do("POST", "/v1/sync", map[string]string{"Authorization": "Bearer " + p.enrol.Credential, "Content-Type": api.BinaryContentType}, body)
	if r.status != 200 {
		t.Fatalf("binary pull from %q: %d %s", cursor, r.status, r.body)
	}
	var hdr protocol.Response
	groups, err := protocol.Decode(r.body, &hdr, 2)
	must(t, err)
	return hdr, groups
}

// withoutPass is a cursor with its text compaction pass taken off: where a
// cursor issued before passes existed stands.
func withoutPass(c string) string {
	c, _, _ = strings.Cut(c, "~")
	return c
}

// The compacted state of a note reaches its team's phones the same in the
// JSON and the binary response, marked in "compacted", once; a hostile
// phone of another team that rewinds or forges its cursor's pass gets
// nothing of it, not even the id; a malformed pass is refused clearly.
func TestCompactedStateInBothEncodings(t *testing.T) {
	e := newEnv(t)
	a1, a2, b := e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_b")
	id := compactedNoteAPI(t, e, a1, a2, b)
	state := e.serverState(id)

	j := a1.sync(0)
	if j.status != 200 || !slices.Equal(j.Compacted, []string{string(id)}) || len(j.Snapshots) != 1 {
		t.Fatalf("JSON pull: %s", j.raw)
	}
	if !strings.Contains(string(j.raw), `"compacted":["`+string(id)+`"]`) {
		t.Fatalf("the JSON field is not named compacted: %s", j.raw)
	}
	if again := a1.sync(0); len(again.Compacted) != 0 || len(again.Snapshots) != 0 {
		t.Fatalf("sent twice: %s", again.raw)
	}
	hdr, groups := a2.binaryPull(t, a2.cursor)
	if !slices.Equal(hdr.Compacted, []string{string(id)}) || len(groups[1]) != 1 || string(groups[1][0]) != string(state) {
		t.Fatalf("binary pull: %+v, %d snapshots", hdr, len(groups[1]))
	}
	if !strings.HasSuffix(hdr.Cursor, "~1") || hdr.Cursor != j.Cursor {
		t.Fatalf("cursors %q (binary) and %q (JSON): want the same, at pass 1", hdr.Cursor, j.Cursor)
	}

	// A phone of the team that rewinds its pass is sent the note again:
	// its own scope, nothing more.
	if r, _ := a2.binaryPull(t, withoutPass(hdr.Cursor)); !slices.Equal(r.Compacted, []string{string(id)}) {
		t.Fatalf("rewound pass: %+v", r)
	}
	for _, c := range []string{withoutPass(b.cursor), withoutPass(b.cursor) + "~9223372036854775807"} {
		b.cursor = c
		r := b.sync(0)
		if r.status != 200 || len(r.Compacted) != 0 || len(r.Snapshots) != 0 || strings.Contains(string(r.raw), string(id)) {
			t.Fatalf("another team's phone from %q: %s", c, r.raw)
		}
	}
	for _, c := range []string{withoutPass(b.cursor) + "~0", withoutPass(b.cursor) + "~-1", withoutPass(b.cursor) + "~01", withoutPass(b.cursor) + "~1~2"} {
		b.cursor = c
		if r := b.sync(0); r.status != 422 || r.err.Code != "invalid" {
			t.Fatalf("cursor %q: %d %s", c, r.status, r.raw)
		}
	}
}
