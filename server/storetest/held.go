package storetest

import (
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A changeset that arrives before one it depends on is held, indexed by
// what it waits for, and applied by itself when that arrives; a device
// cannot make the server hold more than its bounds (it is told to keep the
// change), and a refused body beyond the bound keeps only its size.
func testHeld(t *testing.T, e *env) {
	e.h.SetBounds(domain.QuarantineBounds{HeldMaxCount: 2, HeldMaxBytes: 1 << 20, BodyMax: 64 << 10, DeviceBytes: 1 << 20})
	p := e.enrolPhone("w_a")
	type pair struct {
		id            syncengine.RecordID
		create, later *syncengine.Changeset
	}
	var pairs []pair
	for i := range 3 {
		var id syncengine.RecordID
		create := p.edit(func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			return set(tx, id, "team_id", "team_a", "area", "park", "started_at", e.now.Add(-time.Hour))
		})
		later := p.edit(func(tx *syncengine.Txn) error { return tx.InsertText(id, "note", 0, "later note "+string(rune('a'+i))) })
		pairs = append(pairs, pair{id, create, later})
	}
	// The later edits arrive first (the creations are lost on the way).
	p.outbox = []*syncengine.Changeset{pairs[0].later, pairs[1].later, pairs[2].later}
	r := p.sync(0)
	want := []string{domain.EMISSINGDEP, domain.EMISSINGDEP, domain.EHELDLIMIT}
	for i, w := range want {
		if r.Results[i].Code != w {
			t.Fatalf("push %d: %+v, want %s", i, r.Results[i], w)
		}
	}
	if r.Results[2].Status != protocol.StatusRefused || r.Results[2].Message == "" {
		t.Fatalf("over the bound: %+v, want refused with a message", r.Results[2])
	}
	// The first creation arrives: its held edit is applied with it.
	p.outbox = []*syncengine.Changeset{pairs[0].create}
	p.sync(0)
	if rec, err := e.s.RecordState(e.ctx, string(pairs[0].id)); err != nil || rec == nil || rec.String("note") != "later note a" {
		t.Fatalf("held edit not applied when its dependency arrived: %v", err)
	}
	open, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, DeviceID: p.enrol.DeviceID})
	e.must(err)
	if len(open) != 1 || open[0].Code != domain.EMISSINGDEP {
		t.Fatalf("open items after the release: %+v", open)
	}
	// A refused changeset over the body bound keeps its size, not its body.
	e.h.SetBounds(domain.QuarantineBounds{HeldMaxCount: 2, HeldMaxBytes: 1 << 20, BodyMax: 16, DeviceBytes: 1 << 20})
	b := e.enrolPhone("w_b")
	b.encounter("team_a", "Written into another team.")
	r = b.sync(0)
	items, err := e.s.Quarantine(e.ctx, domain.QuarantineFilter{Open: true, DeviceID: b.enrol.DeviceID})
	e.must(err)
	if len(items) != 1 || items[0].BodyKept || items[0].BodySize == 0 || items[0].BodyDigest == "" {
		t.Fatalf("over the body bound: %+v (%+v)", items, r.Results)
	}
}
