package mobilesdk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// The binary sync body (Content-Type application/x-joinedup), as documented
// in docs/sync-protocol.md:
//
//	"JUP" 0x01  uvarint(len(header)) header(JSON)
//	then groups, each uvarint(n) n × (uvarint(len) frame)
//
// A request carries one group (changeset frames), a response two
// (changesets, then snapshots). Frames are the engine's JUC1/JUS1 frames.
const binaryContentType = "application/x-joinedup"

var binaryMagic = [4]byte{'J', 'U', 'P', 1}

var errFraming = errors.New("bad framing")

type syncRequest struct {
	Cursor    string `json:"cursor"`
	Pending   int64  `json:"pending"`
	PageBytes int    `json:"page_bytes,omitempty"`
	NoPull    bool   `json:"no_pull,omitempty"`
}

type pushResult struct {
	Replica string `json:"replica"`
	Start   uint64 `json:"start"`
	Status  string `json:"status"` // accepted, duplicate, quarantined
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

type syncResponse struct {
	Results []pushResult `json:"results"`
	Drop    []string     `json:"drop"`
	Reset   bool         `json:"reset"`
	Cursor  string       `json:"cursor"`
	More    bool         `json:"more"`
}

func encodeBinary(header any, groups ...[][]byte) ([]byte, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), binaryMagic[:]...)
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

// maxFrames bounds what a (possibly hostile or broken) response can make us allocate.
const maxFrames = 1 << 20

func decodeBinary(b []byte, header any, groups int) ([][][]byte, error) {
	if len(b) < 4 || [4]byte(b[:4]) != binaryMagic {
		return nil, errFraming
	}
	b = b[4:]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errFraming
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
		return nil, errFraming
	}
	out := make([][][]byte, groups)
	for g := range out {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > maxFrames || n > uint64(len(b)) {
			return nil, errFraming
		}
		b = b[k:]
		for range n {
			f, err := next()
			if err != nil {
				return nil, err
			}
			out[g] = append(out[g], f)
		}
	}
	if len(b) != 0 {
		return nil, errFraming
	}
	return out, nil
}
