package api_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// TestDiskFullIsAnsweredClearly: when the disk fills up, a sync is answered
// 503 storage_full (not "internal error"), nothing half-written is kept,
// /readyz answers 503 until a write succeeds again, and then the phone's
// saves all arrive. The full disk is SQLite's max_page_count on the test
// database's one write connection.
func TestDiskFullIsAnsweredClearly(t *testing.T) {
	e := newEnv(t)
	p := e.enrolPhone("w_a")
	p.syncAll()
	var pages int
	must(t, e.db.SQL().QueryRow(`PRAGMA page_count`).Scan(&pages))
	_, err := e.db.SQL().Exec(`PRAGMA max_page_count = ` + itoa(pages+4))
	must(t, err)

	ready := func() reply { return e.do("GET", "/readyz", nil, nil) }
	var full syncReply
	for i := 0; i < 50; i++ {
		p.newEncounter("team_a", strings.Repeat("A long night at the bus station. ", 300))
		if full = p.sync(0); full.status != 200 {
			break
		}
	}
	if full.status != 503 || full.err.Code != domain.ESTORAGEFULL {
		t.Fatalf("sync on a full disk: %d %s, want 503 %s", full.status, full.raw, domain.ESTORAGEFULL)
	}
	if r := ready(); r.status != 503 || !strings.Contains(string(r.body), domain.ESTORAGEFULL) {
		t.Fatalf("readyz on a full disk: %d %s", r.status, r.body)
	}
	waiting := len(p.outbox)

	_, err = e.db.SQL().Exec(`PRAGMA max_page_count = 1073741823`)
	must(t, err)
	if r := ready(); r.status != 200 {
		t.Fatalf("readyz once the disk has room: %d %s", r.status, r.body)
	}
	r := p.sync(0)
	accepted := 0
	for _, res := range r.Results {
		if res.Status == protocol.StatusAccepted {
			accepted++
		}
	}
	if r.status != 200 || accepted != waiting {
		t.Fatalf("sync once the disk has room: %d, accepted %d of %d: %s", r.status, accepted, waiting, r.raw)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
