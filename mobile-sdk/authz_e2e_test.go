package mobilesdk

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStockClientCannotDraftAReferralForAnotherTeamsYoungPerson: the stock
// client (what `fieldsim draft-referral -yp` runs), given another team's
// young person id, has its save quarantined as forbidden by the real server:
// a referral belongs to its young person's team, whatever team_id the phone
// wrote. The server holds no such referral.
func TestStockClientCannotDraftAReferralForAnotherTeamsYoungPerson(t *testing.T) {
	s := startServer(t)
	c := s.enrolPhone(t, s.person(t, 0, "supervisor", 0), s.person(t, 0, "worker", 0))
	db := s.serverDB(t)
	var yp string
	if err := db.QueryRow(`SELECT id FROM records WHERE type = 'young_person' AND team_id = ? AND erased = 0 LIMIT 1`,
		s.demo.Org.Teams[1].ID).Scan(&yp); err != nil {
		t.Fatalf("another team's young person: %v", err)
	}
	ref := mustS(t)(c.DraftReferral(yp, `{}`))
	var sum struct {
		Accepted    int `json:"accepted"`
		Quarantined int `json:"quarantined"`
	}
	must(t, json.Unmarshal([]byte(mustS(t)(c.SyncNow())), &sum))
	if sum.Quarantined != 1 || sum.Accepted != 0 {
		t.Fatalf("sync summary %+v, want the draft quarantined", sum)
	}
	st := mustS(t)(c.Status())
	if !strings.Contains(st, `"forbidden"`) {
		t.Fatalf("phone's quarantine does not say forbidden: %s", st)
	}
	var n int
	must(t, db.QueryRow(`SELECT COUNT(*) FROM records WHERE id = ?`, ref).Scan(&n))
	if n != 0 {
		t.Fatal("the server stored the referral")
	}
}
