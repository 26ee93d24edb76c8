package api_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestPullSendsOnlyInScopeOps: a changeset that touches a team-A and a
// team-B record (a supervisor of both, or the server replica, writes them
// together) reaches each team's phones restricted to their own record: the
// other team's ops are width-preserving placeholders, its record id and
// content never leave the server.
func TestPullSendsOnlyInScopeOps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "sup_ab", Name: "Sup AB", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a", "team_b"}}))
	sup, a, b := e.enrolPhone("sup_ab"), e.enrolPhone("w_a"), e.enrolPhone("w_b")
	for _, p := range []*phone{sup, a, b} {
		p.syncAll()
	}

	// 1. Pushed by a supervisor of both teams: one changeset, two teams.
	var recA, recB syncengine.RecordID
	sup.edit(func(tx *syncengine.Txn) (err error) {
		for _, x := range []struct {
			id   *syncengine.RecordID
			team string
			note string
		}{{&recA, "team_a", "secret-for-team-A"}, {&recB, "team_b", "secret-for-team-B"}} {
			if *x.id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			must(t, tx.Set(*x.id, "team_id", x.team))
			must(t, tx.Set(*x.id, "area", "park"))
			must(t, tx.Set(*x.id, "started_at", e.now.Add(-time.Hour)))
			must(t, tx.InsertText(*x.id, "note", 0, x.note))
		}
		return nil
	})
	if r := sup.sync(0); r.status != 200 || r.Results[0].Status != "accepted" {
		t.Fatalf("supervisor push: %d %s", r.status, r.raw)
	}

	// 2. Written by the server replica (portal): edits both records at once.
	rep, _, err := e.db.ServerReplica(ctx)
	must(t, err)
	_, err = rep.Edit("sup_ab", func(tx *syncengine.Txn) error {
		must(t, tx.Set(recA, "area", "server-area-A"))
		return tx.Set(recB, "area", "server-area-B")
	})
	must(t, err)

	check := func(p *phone, mine, theirs syncengine.RecordID, mySecret, myArea, theirSecret string) {
		t.Helper()
		var frames [][]byte
		for i := 0; i < 100; i++ {
			r := p.sync(0)
			if r.status != 200 {
				t.Fatalf("pull: %d %s", r.status, r.raw)
			}
			for _, c := range r.Changesets {
				f, _ := base64.StdEncoding.DecodeString(c)
				frames = append(frames, f)
			}
			if !r.More {
				break
			}
		}
		if len(frames) != 2 {
			t.Fatalf("%s received %d changesets, want 2 (restricted)", p.person, len(frames))
		}
		for _, f := range frames {
			cs, err := syncengine.DecodeChangeset(f)
			must(t, err)
			for _, d := range cs.Deps {
				if d.Record == theirs {
					t.Fatalf("%s received a dep on the other team's record", p.person)
				}
			}
			for _, op := range cs.Ops {
				if op.Record == theirs {
					t.Fatalf("%s received an op (%v) on the other team's record", p.person, op.Kind)
				}
			}
		}
		if !p.has(mine) {
			t.Fatalf("%s is missing its own team's record", p.person)
		}
		if p.has(theirs) {
			t.Fatalf("%s holds the other team's record", p.person)
		}
		got, _ := p.store.Record(mine)
		if v := got.Values(); v["note"] != mySecret || got.String("area") != myArea {
			t.Fatalf("%s: own record = %v", p.person, v)
		}
		for _, f := range frames {
			if cs, _ := syncengine.DecodeChangeset(f); strings.Contains(string(syncengine.EncodeChangeset(cs)), theirSecret) {
				t.Fatalf("%s received the other team's note text", p.person)
			}
		}
	}
	check(a, recA, recB, "secret-for-team-A", "server-area-A", "secret-for-team-B")
	check(b, recB, recA, "secret-for-team-B", "server-area-B", "secret-for-team-A")

	// The supervisor of both still gets everything whole.
	r := sup.sync(0)
	if r.status != 200 || len(r.Changesets) != 1 {
		t.Fatalf("supervisor pull: %d %s", r.status, r.raw)
	}
	f, _ := base64.StdEncoding.DecodeString(r.Changesets[0])
	cs, err := syncengine.DecodeChangeset(f)
	must(t, err)
	if len(cs.Deps) != 2 {
		t.Fatalf("supervisor got %d deps, want 2", len(cs.Deps))
	}
}
