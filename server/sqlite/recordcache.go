package sqlite

import (
	"sync"

	"github.com/joinedup/joinedup/syncengine"
)

// decodedRecords keeps the records Records decoded, by id, with the
// updated_seq and checksum of the state they came from, so a list page does
// not decode every record of the organisation again on each request
// (decoding was most of the portal's time at 10x the demo data). A record
// whose row changed (another seq or crc) is decoded afresh. The records are
// shared between callers, who must not modify them.
//
// An erasure clears the cache (checkpointAfterErasure): a redaction rewrites
// a state without moving its seq, and erased words must not outlive it here.
type decodedRecords struct {
	mu sync.Mutex
	m  map[string]decoded
}

type decoded struct {
	seq, crc int64
	rec      *syncengine.Record
}

// decodedMax bounds the cache: past it, it starts again empty (simpler than
// an LRU, and a list page refills what it uses in one read).
const decodedMax = 100_000

func (c *decodedRecords) get(id string, seq, crc int64) *syncengine.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.m[id]; ok && d.seq == seq && d.crc == crc {
		return d.rec
	}
	return nil
}

func (c *decodedRecords) put(id string, seq, crc int64, r *syncengine.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= decodedMax {
		c.m = map[string]decoded{}
	}
	// A reader of an older snapshot must not replace a newer state.
	if d, ok := c.m[id]; ok && d.seq > seq {
		return
	}
	c.m[id] = decoded{seq: seq, crc: crc, rec: r}
}

func (c *decodedRecords) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
