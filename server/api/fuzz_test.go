package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// FuzzSyncBody posts untrusted bodies, JSON or binary, to /v1/sync as an
// enrolled phone: whatever the bytes, the answer is a documented error
// ({code, message}, 4xx) or a sync, never a 5xx; and the records accepted
// before are never altered by a body that was refused.
func FuzzSyncBody(f *testing.F) {
	e := newEnv(f, func(c *api.Config) { c.RateLimit, c.RateBurst = 1e9, 1<<30 })
	p := e.enrolPhone("w_a")
	enc := p.newEncounter("team_a", "accepted before the fuzzing")
	p.syncAll()
	kept, err := e.db.RecordState(context.Background(), string(enc))
	if err != nil {
		f.Fatal(err)
	}
	keptBytes := syncengine.EncodeRecord(kept)
	edit := p.edit(func(tx *syncengine.Txn) error { return tx.InsertText(enc, "note", 0, "more ") })
	frame := syncengine.EncodeChangeset(edit)
	js, _ := json.Marshal(protocol.Request{Changesets: []string{base64.StdEncoding.EncodeToString(frame)}})
	bin, _ := protocol.Encode(protocol.Request{}, [][]byte{frame})
	f.Add(js, false)
	f.Add(bin, true)
	f.Add([]byte(`{"cursor":"zz","page_bytes":-1}`), false)
	// Cursors carrying a text compaction pass (domain.Cursor.Compacted).
	f.Add([]byte(`{"cursor":"0123456789abcdef.3f2a9c1e.1~1"}`), false)
	f.Add([]byte(`{"cursor":"0123456789abcdef.3f2a9c1e.1.0.r1~99999999999999999999"}`), false)
	withPass, _ := protocol.Encode(protocol.Request{Cursor: "0123456789abcdef.3f2a9c1e.0~7"}, [][]byte{frame})
	f.Add(withPass, true)
	f.Add([]byte(`{"changesets":["SlVDAQ=="]}`), false)
	f.Add(bin[:len(bin)-3], true)
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		e.t = t
		r := e.untrusted(t, "/v1/sync", p.auth()["Authorization"], body, binary)
		if r.status != 200 {
			now, err := e.db.RecordState(context.Background(), string(enc))
			if err != nil {
				t.Fatal(err)
			}
			if got := syncengine.EncodeRecord(now); string(got) != string(keptBytes) && now.String("note") != "more accepted before the fuzzing" {
				t.Fatalf("a refused body altered an accepted record: %q", now.String("note"))
			}
		}
	})
}
