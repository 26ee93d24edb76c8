// Package protocol holds the sync protocol's binary envelope, shared by the
// server and the phone so that both read and write exactly the same bytes
// (docs/sync-protocol.md):
//
//	"JUP" 0x01  uvarint(len(header)) header(JSON)
//	then groups, each: uvarint(n), n × (uvarint(len) frame)
//
// A request carries one group (changeset frames), a response two
// (changesets, then snapshots). Frames are the engine's JUC/JUS frames,
// already snappy-compressed, so the envelope adds only lengths.
package protocol

import (
	"encoding/binary"
	"encoding/json"

	"github.com/joinedup/joinedup/syncengine"
)

// ContentType marks a binary sync body.
const ContentType = "application/x-joinedup"

// MaxFramesPerGroup bounds how many frames one group may announce.
// It is generous: the real bound is the body, since every frame takes at
// least one length byte, and the server caps bodies at 8 MiB.
const MaxFramesPerGroup = 1 << 20

var magic = [4]byte{'J', 'U', 'P', 1}

func malformed(msg string) error {
	return syncengine.Errorf(syncengine.EMALFORMED, "decode sync envelope", "%s", msg)
}

// Encode builds an envelope: the JSON header, then each group of frames.
func Encode(header any, groups ...[][]byte) ([]byte, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	n := len(magic) + binary.MaxVarintLen64 + len(h)
	for _, g := range groups {
		n += binary.MaxVarintLen64
		for _, f := range g {
			n += binary.MaxVarintLen64 + len(f)
		}
	}
	out := make([]byte, 0, n)
	out = append(out, magic[:]...)
	out = binary.AppendUvarint(out, uint64(len(h)))
	out = append(out, h...)
	for _, g := range groups {
		out = binary.AppendUvarint(out, uint64(len(g)))
		for _, f := range g {
			out = binary.AppendUvarint(out, uint64(len(f)))
			out = append(out, f...)
		}
	}
	return out, nil
}

// Decode parses an envelope of untrusted bytes into its header and exactly
// `groups` frame groups. Frames alias b. Every length is checked against what
// is left before anything is allocated; errors carry code "malformed".
func Decode(b []byte, header any, groups int) ([][][]byte, error) {
	if len(b) < len(magic) || [4]byte(b[:4]) != magic {
		return nil, malformed("not a JoinedUp sync envelope")
	}
	b = b[len(magic):]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, malformed("length runs past the end")
		}
		p := b[k : k+int(n)]
		b = b[k+int(n):]
		return p, nil
	}
	h, err := next()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(h, header); err != nil {
		return nil, malformed("header is not valid JSON for its type")
	}
	out := make([][][]byte, groups)
	for g := range out {
		n, k := binary.Uvarint(b)
		// Each frame takes at least one length byte, so n cannot exceed what is left.
		if k <= 0 || n > MaxFramesPerGroup || n > uint64(len(b)-k) {
			return nil, malformed("bad frame count")
		}
		b = b[k:]
		if n > 0 {
			out[g] = make([][]byte, 0, n)
		}
		for range n {
			f, err := next()
			if err != nil {
				return nil, err
			}
			out[g] = append(out[g], f)
		}
	}
	if len(b) != 0 {
		return nil, malformed("trailing bytes")
	}
	return out, nil
}
