package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// The binary sync framing (Content-Type application/x-joinedup):
//
//	"JUP" version(1) uvarint(len(header)) header(JSON)
//	uvarint(n) n × (uvarint(len) frame)          -- request: changeset frames
//	                                              -- response: changeset frames, then
//	uvarint(m) m × (uvarint(len) frame)           -- response only: snapshot frames
//
// Frames are the engine's JUC/JUS frames, already snappy-compressed; the
// header is small JSON (cursor, results, drop list).
const (
	BinaryContentType = "application/x-joinedup"
	maxFramesPerBody  = 20000
)

var binaryMagic = [4]byte{'J', 'U', 'P', 1}

var errFraming = errors.New("bad framing")

// EncodeBinary builds a framed body: header, then each group of frames.
func EncodeBinary(header any, groups ...[][]byte) ([]byte, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	n := 4 + binary.MaxVarintLen64 + len(h)
	for _, g := range groups {
		n += binary.MaxVarintLen64
		for _, f := range g {
			n += binary.MaxVarintLen64 + len(f)
		}
	}
	out := make([]byte, 0, n)
	out = append(out, binaryMagic[:]...)
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

// DecodeBinary parses a framed body into its header and `groups` frame
// groups. Frames alias b. Every length is checked against what is left.
func DecodeBinary(b []byte, header any, groups int) ([][][]byte, error) {
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
		if k <= 0 || n > maxFramesPerBody || n > uint64(len(b)) {
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
