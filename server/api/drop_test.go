package api_test

import (
	"context"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestDropsNameOnlyRecordsTheDeviceHad: when a record leaves one team for
// another, only the devices that had it are told to drop it; the ids of
// other teams' and services' records never reach anyone else.
func TestDropsNameOnlyRecordsTheDeviceHad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must(t, e.db.UpsertTeam(ctx, domain.Team{ID: "team_c", AreaID: "north", Name: "C"}))
	a, b, h, c := e.enrolPhone("w_a"), e.enrolPhone("w_b"), e.enrolPhone("prac_h"), e.enrolPhone("prac_c")
	var yp, ref syncengine.RecordID
	b.syncAll()
	b.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		must(t, tx.Set(yp, "team_id", "team_b"))
		must(t, tx.Set(yp, "known_as", "Kit"))
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_b", "young_person_id": string(yp), "service_id": "svc_housing", "urgency": "soon",
			"consent": "given", "status": "submitted"} {
			must(t, tx.Set(ref, k, v))
		}
		return tx.InsertText(ref, "reason", 0, "Needs a room")
	})
	b.syncAll()
	for _, p := range []*phone{a, h, c} {
		p.syncAll()
	}
	if !h.has(ref) {
		t.Fatal("housing did not receive the referral addressed to it")
	}
	admin := personOf(t, e, "admin")
	tr, err := e.db.StartTransfer(ctx, admin, string(yp), "team_c", "moved")
	must(t, err)
	_, err = e.db.DecideTransfer(ctx, admin, tr.ID, domain.DecisionAccept)
	must(t, err)
	for _, tc := range []struct {
		name  string
		p     *phone
		had   []syncengine.RecordID
		never []syncengine.RecordID
	}{
		{"team B worker had both", b, []syncengine.RecordID{yp, ref}, nil},
		{"team A worker had neither", a, nil, []syncengine.RecordID{yp, ref}},
		{"CAMHS never had the housing referral", c, nil, []syncengine.RecordID{yp, ref}},
		{"housing keeps its referral", h, nil, []syncengine.RecordID{yp, ref}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.p.sync(0)
			if r.status != 200 {
				t.Fatalf("sync: %d %s", r.status, r.raw)
			}
			for _, id := range tc.had {
				if !slices.Contains(r.Drop, string(id)) {
					t.Errorf("drop %v does not name %s, which the device had", r.Drop, id)
				}
			}
			for _, id := range tc.never {
				if slices.Contains(r.Drop, string(id)) {
					t.Errorf("drop names %s, which the device never had", id)
				}
			}
		})
	}
}
