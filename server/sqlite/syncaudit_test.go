package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A sync's audit row is encoded from a struct, no longer from a map: the
// bytes (and so the audit chain's hashes and every reader of the detail)
// must be what the map gave, for any counts and any record ids, none
// included.
func TestSyncAuditDetailIsTheMapsEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		res := &domain.SyncResult{Accepted: rng.IntN(3), Quarantined: rng.IntN(2)}
		res.Results = make([]protocol.PushResult, rng.IntN(4))
		res.Changesets = make([][]byte, rng.IntN(30))
		res.Snapshots = make([][]byte, rng.IntN(3))
		res.Drop = make([]string, rng.IntN(2))
		for range rng.IntN(6) {
			// ids with what JSON escapes, and repeats (the audit lists each once)
			res.SentRecords = append(res.SentRecords, []string{"r1", "a<b>&c", "ü\u2028", fmt.Sprint(rng.IntN(5))}[rng.IntN(4)])
		}
		d := syncAuditOf(res)
		got, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(d.syncAuditMap())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d: struct %s, map %s", i, got, want)
		}
	}
}
