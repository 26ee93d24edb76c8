package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestYoungPersonTransfer: moving a young person to another team is an
// explicit transfer that only the source team's supervisor starts and the
// receiving team's supervisor accepts; then the server moves them with
// their referrals and follow-ups, old team phones drop them and new team
// phones receive them, and every step is audited.
func TestYoungPersonTransfer(t *testing.T) {
	e := newEnv(t)
	e.addSupB()
	a, b := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	a.syncAll()
	b.syncAll()
	var yp, ref syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		must(t, tx.Set(yp, "team_id", "team_a"))
		must(t, tx.Set(yp, "known_as", "Jo"))
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "young_person_id": string(yp), "status": "draft"} {
			must(t, tx.Set(ref, k, v))
		}
		return nil
	})
	enc := a.newEncounter("team_a", "stays with A")
	a.syncAll()

	start := func(body string) []byte { return []byte(body) }
	ok := fmt.Sprintf(`{"young_person_id":"%s","to_team":"team_b","reason":"moved across town"}`, yp)
	e.run(t, []scenario{
		{name: "receiving supervisor cannot start it", method: "POST", url: "/v1/admin/transfers", headers: basic("supb@example.org"), body: start(ok), wantStatus: 404, wantCode: "not_found"},
		{name: "forged young person", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(`{"young_person_id":"nope","to_team":"team_b"}`), wantStatus: 404, wantCode: "not_found"},
		{name: "an encounter is not a young person", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(fmt.Sprintf(`{"young_person_id":"%s","to_team":"team_b"}`, enc)), wantStatus: 404, wantCode: "not_found"},
		{name: "team must exist", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(fmt.Sprintf(`{"young_person_id":"%s","to_team":"team_nope"}`, yp)), wantStatus: 422, wantCode: "invalid"},
		{name: "same team", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(fmt.Sprintf(`{"young_person_id":"%s","to_team":"team_a"}`, yp)), wantStatus: 422, wantCode: "invalid"},
		{name: "source supervisor starts it", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(ok), wantStatus: 201, wantContains: []string{`"status":"pending"`, `"from_team":"team_a"`}},
		{name: "only one pending", method: "POST", url: "/v1/admin/transfers", headers: basic("sup@example.org"), body: start(ok), wantStatus: 409, wantCode: "conflict"},
	})
	ts, err := e.db.Transfers(context.Background(), domain.TransferFilter{Viewer: domain.Scope{All: true}})
	must(t, err)
	id := ts[0].ID
	url := fmt.Sprintf("/v1/admin/transfers/%d/", id)
	// Nothing moved yet.
	b.syncAll()
	if b.has(yp) {
		t.Fatal("team B received the young person before the transfer was accepted")
	}
	e.run(t, []scenario{
		{name: "receiving supervisor sees it", method: "GET", url: "/v1/admin/transfers?status=pending", headers: basic("supb@example.org"), wantStatus: 200, wantContains: []string{string(yp)}},
		{name: "source supervisor cannot accept", method: "POST", url: url + "accept", headers: basic("sup@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "receiving supervisor cannot cancel", method: "POST", url: url + "cancel", headers: basic("supb@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "unknown decision", method: "POST", url: url + "approve", headers: basic("supb@example.org"), wantStatus: 404, wantCode: "not_found"},
		{name: "forged id", method: "POST", url: "/v1/admin/transfers/99999/accept", headers: basic("supb@example.org"), wantStatus: 404, wantCode: "not_found"},
		{name: "receiving supervisor accepts", method: "POST", url: url + "accept", headers: basic("supb@example.org"), wantStatus: 200, wantContains: []string{`"status":"accepted"`}},
		{name: "accepted once", method: "POST", url: url + "accept", headers: basic("supb@example.org"), wantStatus: 409, wantCode: "conflict"},
	})
	var ypTeam, refTeam, encTeam string
	must(t, e.db.SQL().QueryRow(`SELECT team_id FROM records WHERE id = ?`, string(yp)).Scan(&ypTeam))
	must(t, e.db.SQL().QueryRow(`SELECT team_id FROM records WHERE id = ?`, string(ref)).Scan(&refTeam))
	must(t, e.db.SQL().QueryRow(`SELECT team_id FROM records WHERE id = ?`, string(enc)).Scan(&encTeam))
	if ypTeam != "team_b" || refTeam != "team_b" || encTeam != "team_a" {
		t.Fatalf("after the transfer: young person %s, referral %s, encounter %s", ypTeam, refTeam, encTeam)
	}
	b.syncAll()
	a.syncAll()
	if !b.has(yp) || !b.has(ref) || b.has(enc) {
		t.Fatalf("team B phone: yp %v referral %v encounter %v", b.has(yp), b.has(ref), b.has(enc))
	}
	if a.has(yp) || a.has(ref) || !a.has(enc) {
		t.Fatalf("team A phone: yp %v referral %v encounter %v", a.has(yp), a.has(ref), a.has(enc))
	}
	audit, err := e.db.Audit(context.Background(), domain.AuditFilter{Action: domain.ActionTransfer, RecordID: string(yp)})
	must(t, err)
	if len(audit) != 2 || audit[0].PersonID != "sup_b" || audit[1].PersonID != "sup_a" {
		t.Fatalf("transfer audit: %+v", audit)
	}
}
