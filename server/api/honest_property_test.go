package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"pgregory.net/rapid"
)

// TestHostilePushesNeverHurtHonestPhones interleaves random hostile pushes
// (a team-B worker's device forging other replicas and authors, writing to
// team A's records, moving records, jumping lifecycles, setting its clock to
// the future, submitting without consent) with honest phones of teams A and
// B. Properties: every honest save is accepted; every hostile push is
// refused; the log holds exactly the honest saves; and every honest phone
// holds, for each of its team's records, exactly the server's state.
func TestHostilePushesNeverHurtHonestPhones(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := newEnv(t, func(c *api.Config) { c.RateBurst = 1 << 20 }) // the clock stands still
		ctx := context.Background()
		must(t, e.db.UpsertPerson(ctx, domain.Person{ID: "mallory", Name: "Mallory", Role: "worker", TeamID: "team_b"}))
		honest := []*phone{e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_b")}
		for _, p := range honest {
			p.syncAll()
		}
		evil := e.hostilePhone("", "mallory")
		accepted := 0
		var teamA, teamB []syncengine.RecordID // records created by honest phones
		var refsA []syncengine.RecordID        // submitted referrals of team A
		var ypsA []syncengine.RecordID

		honestSave := func(p *phone, what string) {
			r := p.sync(0)
			if r.status != 200 || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusAccepted {
				rt.Fatalf("honest %s by %s refused: %d %s", what, p.person, r.status, r.raw)
			}
			accepted++
		}
		victimReplica := func() (syncengine.ReplicaID, uint64) {
			p := honest[rapid.IntRange(0, len(honest)-1).Draw(rt, "victim")]
			return p.rep.ID(), p.rep.Counter() + uint64(rapid.IntRange(0, 2).Draw(rt, "ahead"))
		}
		pick := func(ids []syncengine.RecordID, label string) syncengine.RecordID {
			return ids[rapid.IntRange(0, len(ids)-1).Draw(rt, label)]
		}

		steps := rapid.IntRange(5, 25).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1: // honest: a new encounter
				p := honest[rapid.IntRange(0, 2).Draw(rt, "who")]
				team := p.enrol.TeamID
				id := p.newEncounter(team, fmt.Sprintf("note %d", i))
				honestSave(p, "encounter")
				if team == "team_a" {
					teamA = append(teamA, id)
				} else {
					teamB = append(teamB, id)
				}
			case 2: // honest: edit a record of the phone's team
				p := honest[rapid.IntRange(0, 2).Draw(rt, "who")]
				ids := teamA
				if p.enrol.TeamID == "team_b" {
					ids = teamB
				}
				if len(ids) == 0 {
					continue
				}
				p.syncAll()
				id := pick(ids, "record")
				p.edit(func(tx *syncengine.Txn) error { return tx.Set(id, "area", fmt.Sprintf("area %d", i)) })
				honestSave(p, "edit")
			case 3: // honest: a young person of team A with a submitted referral
				p := honest[rapid.IntRange(0, 1).Draw(rt, "who")]
				var yp, ref syncengine.RecordID
				p.edit(func(tx *syncengine.Txn) (err error) {
					if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
						return err
					}
					setAll(t, tx, yp, map[string]any{"team_id": "team_a", "known_as": fmt.Sprintf("J%d", i)})
					if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
						return err
					}
					setAll(t, tx, ref, map[string]any{"team_id": "team_a", "young_person_id": string(yp), "service_id": "svc_housing",
						"urgency": "soon", "consent": "given", "status": "submitted"})
					return tx.InsertText(ref, "reason", 0, "Sofa surfing")
				})
				honestSave(p, "referral")
				ypsA, refsA = append(ypsA, yp), append(refsA, ref)
				teamA = append(teamA, yp, ref)
			default: // hostile
				evil.store = syncengine.NewMemStore() // what it knows is re-read each time
				var cs *syncengine.Changeset
				rep := evil.replica(evil.rep.ID(), uint64(1000+i*50), e.now)
				switch kind := rapid.IntRange(0, 7).Draw(rt, "attack"); {
				case kind == 0 || kind == 1: // forged replica id, or forged author
					id, counter := victimReplica()
					author := "mallory"
					if kind == 1 {
						id, counter, author = evil.rep.ID(), uint64(1000+i*50), honest[0].person
					}
					rep = evil.replica(id, counter, e.now)
					cs = evil.forge(rep, author, e.createEncounter(nil, "team_b", "forged"), nil)
				case kind == 2 && len(teamA) > 0: // write, delete or erase another team's record
					id := pick(teamA, "target")
					evil.know(id)
					op := rapid.SampledFrom([]string{"set", "delete", "erase", "team"}).Draw(rt, "op")
					cs = evil.forge(rep, "mallory", func(tx *syncengine.Txn) error {
						switch op {
						case "delete":
							return tx.Delete(id)
						case "erase":
							return tx.Erase(id, "hostile")
						case "team":
							return tx.Set(id, "team_id", "team_b")
						}
						return tx.Set(id, "area", "hijacked")
					}, nil)
				case kind == 3 && len(ypsA) > 0: // a referral for another team's young person
					yp := pick(ypsA, "yp")
					evil.know(yp)
					_, cs = evil.newReferral(rep, "mallory", yp, map[string]any{"team_id": "team_b"})
				case kind == 4 && len(refsA) > 0: // a lifecycle jump on another team's referral
					ref := pick(refsA, "ref")
					evil.know(ref)
					to := rapid.SampledFrom([]string{"accepted", "draft", "closed"}).Draw(rt, "to")
					cs = evil.forge(rep, "mallory", func(tx *syncengine.Txn) error { return tx.Set(ref, "outcome", "x") },
						func(cs *syncengine.Changeset) {
							cs.Ops[0].Field, cs.Ops[0].Value, cs.Ops[0].Refs = "status", json.RawMessage(`"`+to+`"`), nil
						})
				case kind == 5: // its own team's young person, submitted without consent
					var yp syncengine.RecordID
					cs = evil.forge(rep, "mallory", func(tx *syncengine.Txn) (err error) {
						if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
							return err
						}
						setAll(t, tx, yp, map[string]any{"team_id": "team_b", "known_as": "M"})
						return nil
					}, nil)
					_, cs2 := evil.newReferral(rep, "mallory", yp, map[string]any{"consent": rapid.SampledFrom([]string{"refused", "not_asked"}).Draw(rt, "consent")})
					cs = mergeChangesets(cs, cs2)
				case kind == 6: // a clock in the future
					rep = evil.replica(evil.rep.ID(), uint64(1000+i*50), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
					cs = evil.forge(rep, "mallory", e.createEncounter(nil, "team_b", "future"), nil)
				case kind == 7: // a record of a team that does not exist
					cs = evil.forge(rep, "mallory", func(tx *syncengine.Txn) error {
						x, err := tx.Create(syncengine.TypeYoungPerson)
						if err != nil {
							return err
						}
						setAll(t, tx, x, map[string]any{"team_id": "team_nowhere", "known_as": "Z"})
						return nil
					}, nil)
				}
				if cs == nil {
					continue
				}
				r := evil.push(cs)
				if r.status == 403 && r.err.Code == domain.EFORBIDDEN {
					continue
				}
				if r.status != 200 || len(r.results) != 1 || r.results[0].Status != protocol.StatusQuarantined {
					rt.Fatalf("hostile push not refused: %d %s", r.status, r.raw)
				}
			}
		}

		if n := e.count("changesets"); n != accepted {
			rt.Fatalf("log holds %d changesets, honest phones saved %d", n, accepted)
		}
		for _, p := range honest {
			p.syncAll()
			ids := teamA
			if p.enrol.TeamID == "team_b" {
				ids = teamB
			}
			for _, id := range ids {
				mine, _ := p.store.Record(id)
				srv := e.stored(id)
				if mine == nil || srv == nil {
					rt.Fatalf("%s: record %s lost (phone %v, server %v)", p.person, id, mine != nil, srv != nil)
				}
				if !bytes.Equal(syncengine.EncodeRecord(mine), syncengine.EncodeRecord(srv)) {
					rt.Fatalf("%s: record %s differs from the server's:\nphone  %v\nserver %v", p.person, id, mine.Values(), srv.Values())
				}
				if a := srv.String("area"); a == "hijacked" || srv.Erased != nil || srv.Deleted() || srv.String("team_id") == "team_b" && p.enrol.TeamID == "team_a" {
					rt.Fatalf("record %s was changed by a refused push: %v", id, srv.Values())
				}
			}
		}
	})
}

// mergeChangesets appends b's ops and deps to a (b follows a on the same
// replica), so one changeset creates a young person and their referral.
func mergeChangesets(a, b *syncengine.Changeset) *syncengine.Changeset {
	out := *a
	out.Ops = append(append([]syncengine.Op(nil), a.Ops...), b.Ops...)
	out.Deps = append(append([]syncengine.Dep(nil), a.Deps...), b.Deps...)
	for i := range out.Deps {
		out.Deps[i].VV = nil
	}
	sortDeps(out.Deps)
	return &out
}

func sortDeps(ds []syncengine.Dep) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Record < ds[j-1].Record; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}
