package portal

import (
	"strings"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
)

// TestMergedRecordOverItsLimitIsFlagged: two phones add to the same note
// offline, each within its limit, together beyond it. The server keeps the
// merge; the supervisor's dashboard lists the record among those to resolve.
func TestMergedRecordOverItsLimitIsFlagged(t *testing.T) {
	e := newTestEnv(t)
	sup := personByEmail(t, login(t, "supervisor", 1).Email)
	var id string
	if err := e.db.SQL().QueryRow(`SELECT id FROM records WHERE type = 'encounter' AND team_id = ? AND deleted = 0 LIMIT 1`, sup.TeamID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	enc := syncengine.RecordID(id)
	var css []*syncengine.Changeset
	for _, who := range []string{"one", "two"} {
		ph := newPhone(t, e.db, "w-"+who)
		ph.load(enc)
		css = append(css, ph.edit(func(tx *syncengine.Txn) error {
			return tx.InsertText(enc, "note", 0, strings.Repeat("Phone "+who+" wrote this. ", 12000/len("Phone "+who+" wrote this. ")))
		}))
	}
	push(t, e.db, css...)
	status, body := e.signIn("supervisor", 1).get("/portal/dashboard")
	if status != 200 || !strings.Contains(body, "note (over its limit)") {
		t.Fatalf("dashboard: %d, over-limit note not listed to resolve\n%s", status, trunc(body))
	}
}
