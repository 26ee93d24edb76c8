package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/golang/snappy"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// literalFrame is cs's frame compressed another way (two snappy literals,
// where the encoder writes one run or copies): it decodes to the same
// changeset, but is not the server's encoding.
func literalFrame(tb testing.TB, cs *syncengine.Changeset) []byte {
	tb.Helper()
	canon := syncengine.EncodeChangeset(cs)
	body, err := snappy.Decode(nil, canon[4:])
	must(tb, err)
	out := binary.AppendUvarint(append([]byte(nil), canon[:4]...), uint64(len(body)))
	literal := func(p []byte) {
		switch n := len(p) - 1; {
		case n < 60:
			out = append(out, byte(n)<<2)
		case n < 1<<8:
			out = append(out, 60<<2, byte(n))
		default:
			out = append(out, 61<<2, byte(n), byte(n>>8))
		}
		out = append(out, p...)
	}
	literal(body[:10])
	literal(body[10:])
	if bytes.Equal(out, canon) {
		tb.Fatal("the literal frame is the canonical one")
	}
	return out
}

// TestLogHoldsTheCanonicalEncoding: the server logs the frame a phone sent
// only when it is byte for byte the changeset's canonical encoding; a frame
// compressed another way, or holding two changesets, is encoded anew. In
// both body forms: a binary body's frames are slices of a request buffer
// the server reuses.
func TestLogHoldsTheCanonicalEncoding(t *testing.T) {
	e := newEnv(t)
	p := e.enrolPhone("w_a")
	var css []*syncengine.Changeset
	for range 8 {
		p.newEncounter("team_a", "canonical")
		css = append(css, p.outbox[len(p.outbox)-1])
	}
	p.outbox = nil
	frames := [][]byte{
		syncengine.EncodeChangeset(css[0]), literalFrame(t, css[1]), syncengine.EncodeChangesets(css[2:4]),
		syncengine.EncodeChangeset(css[4]), literalFrame(t, css[5]), syncengine.EncodeChangesets(css[6:8]),
	}
	post := func(binaryBody bool, frames [][]byte) {
		t.Helper()
		var body []byte
		var err error
		ct := "application/json"
		if binaryBody {
			ct = api.BinaryContentType
			body, err = protocol.Encode(protocol.Request{NoPull: true}, frames)
		} else {
			req := protocol.Request{NoPull: true}
			for _, f := range frames {
				req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(f))
			}
			body, err = json.Marshal(req)
		}
		must(t, err)
		r := e.do("POST", "/v1/sync", map[string]string{"Authorization": "Bearer " + p.enrol.Credential, "Content-Type": ct}, body)
		if r.status != 200 || bytes.Count(r.body, []byte(`"accepted"`)) != 4 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
	}
	post(false, frames[:3])
	post(true, frames[3:])
	for i, cs := range css {
		var body []byte
		must(t, e.db.SQL().QueryRow(`SELECT body FROM changesets WHERE replica_id = ? AND start = ?`, cs.Replica.String(), cs.Start).Scan(&body))
		if want := syncengine.EncodeChangeset(cs); !bytes.Equal(body, want) {
			t.Errorf("changeset %d: logged %x, want its encoding %x", i, body, want)
		}
	}
}
