package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// TestForgedCursorsAgainstAWarmTeamFeed: the store answers a team's phones
// from the team's recent changesets in memory (server/sqlite pullfeed.go).
// A hostile phone of team A speaks the wire protocol with cursors it forged
// (any log position, team B's scope tag) after its team-mate's pulls filled
// that memory: every changeset it receives touches only team A's records,
// and a revoked phone of the team is told to wipe, however it forges.
func TestForgedCursorsAgainstAWarmTeamFeed(t *testing.T) {
	e := newEnv(t)
	a1, a2, b := e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_b")
	for _, p := range []*phone{a1, a2, b} {
		p.syncAll()
	}
	for i := range 3 {
		a1.newEncounter("team_a", "met at the park")
		a1.syncAll()
		b.newEncounter("team_b", "met at the market")
		b.syncAll()
		if i < 2 {
			a2.syncAll() // fills team A's feed
		}
	}
	cur, _, err := domain.ParseCursor(a1.cursor)
	must(t, err)
	forge := func(seq int64, tag string) string {
		c := cur
		c.Seq, c.Tag = seq, tag
		return c.String()
	}
	teamB := domain.Scope{Role: domain.RoleWorker, PersonID: "w_b", Teams: []string{"team_b"}}.Tag()
	post := func(p *phone, cursor string) syncReply {
		body, _ := json.Marshal(protocol.Request{Cursor: cursor, PageBytes: 1024}) // the smallest page: a few changesets each
		r := e.do("POST", "/v1/sync", p.auth(), body)
		out := syncReply{status: r.status, raw: r.body}
		if r.status == 200 {
			r.json(t, &out.Response)
		} else {
			r.json(t, &out.err)
		}
		return out
	}
	teamOf := func(id syncengine.RecordID) string {
		rec, err := e.db.RecordState(context.Background(), string(id))
		must(t, err)
		return rec.String("team_id")
	}
	for _, tc := range []struct {
		name   string
		cursor string
	}{
		{"from the start of the log", forge(0, cur.Tag)},
		{"from the first changeset", forge(1, cur.Tag)},
		{"from the middle", forge(cur.Seq/2, cur.Tag)},
		{"team B's scope tag", forge(1, teamB)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cursor, pages := tc.cursor, 0
			for {
				r := post(a1, cursor)
				if r.status != 200 {
					t.Fatalf("forged sync: %d %s", r.status, r.raw)
				}
				for _, c := range r.Changesets {
					raw, _ := base64.StdEncoding.DecodeString(c)
					cs, err := syncengine.DecodeChangeset(raw)
					must(t, err)
					for _, id := range cs.Records() {
						if team := teamOf(id); team != "team_a" {
							t.Fatalf("team A's phone was sent a change to %s of %q", id, team)
						}
					}
				}
				for _, s := range r.Snapshots {
					raw, _ := base64.StdEncoding.DecodeString(s)
					recs, err := syncengine.DecodeSnapshot(raw)
					must(t, err)
					for _, rec := range recs {
						if team := rec.String("team_id"); team != "team_a" {
							t.Fatalf("team A's phone was sent record %s of %q", rec.ID, team)
						}
					}
				}
				if cursor = r.Cursor; !r.More {
					break
				}
				if pages++; pages > 100 {
					t.Fatal("the pull never finished")
				}
			}
		})
	}
	e.run(t, []scenario{
		{name: "revoke team A's other phone", method: "POST", url: "/v1/admin/devices/" + a2.enrol.DeviceID + "/revoke", headers: basic("sup@example.org"), body: []byte(`{"reason":"lost"}`), wantStatus: 200},
	})
	for _, cursor := range []string{a2.cursor, forge(0, cur.Tag), forge(cur.Seq/2, cur.Tag)} {
		if r := post(a2, cursor); r.status != 401 || r.err.Code != domain.EREVOKED || len(r.Changesets) != 0 {
			t.Fatalf("revoked phone with cursor %q: %d %s", cursor, r.status, r.raw)
		}
	}
}
