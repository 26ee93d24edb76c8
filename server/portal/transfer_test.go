package portal

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestTransferYoungPersonInPortal: the source team's supervisor asks on the
// young person's page; the receiving team's supervisor accepts on the
// transfers page; nobody else can decide it; then the young person is
// filed under the new team.
func TestTransferYoungPersonInPortal(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	ctx := context.Background()
	sup, other := env.signIn("supervisor", 1), env.signIn("supervisor", 2)
	if status, body := other.post("/portal/young-people/"+w.yp+"/transfer", url.Values{"team": {w.otherTeam}}); status != http.StatusNotFound {
		t.Fatalf("another team's supervisor started a transfer: %d %s", status, trunc(body))
	}
	if status, body := sup.post("/portal/young-people/"+w.yp+"/transfer", url.Values{"team": {"team_nope"}}); status != http.StatusUnprocessableEntity {
		t.Fatalf("transfer to a team that does not exist: %d %s", status, trunc(body))
	}
	if status, body := sup.post("/portal/young-people/"+w.yp+"/transfer", url.Values{"team": {w.otherTeam}, "reason": {"moved"}}); status != http.StatusSeeOther {
		t.Fatalf("start transfer: %d %s", status, trunc(body))
	}
	ts, err := env.db.Transfers(ctx, domain.TransferFilter{Viewer: domain.Scope{All: true}, Status: domain.TransferPending})
	if err != nil || len(ts) != 1 {
		t.Fatalf("transfers: %v %+v", err, ts)
	}
	id := "/portal/transfers/" + strconv.FormatInt(ts[0].ID, 10)
	status, body := other.get("/portal/transfers")
	if status != 200 || !strings.Contains(body, `value="accept"`) {
		t.Fatalf("receiving supervisor's transfers page: %d %s", status, trunc(body))
	}
	for _, tc := range []struct {
		name     string
		by       *client
		decision string
		want     int
	}{
		{"source supervisor cannot accept", sup, "accept", http.StatusUnprocessableEntity},
		{"receiving supervisor cannot cancel", other, "cancel", http.StatusUnprocessableEntity},
		{"receiving supervisor accepts", other, "accept", http.StatusSeeOther},
		{"only once", other, "accept", http.StatusUnprocessableEntity},
	} {
		if status, body := tc.by.post(id, url.Values{"decision": {tc.decision}}); status != tc.want {
			t.Fatalf("%s: %d, want %d\n%s", tc.name, status, tc.want, trunc(body))
		}
	}
	var team string
	if err := env.db.SQL().QueryRow(`SELECT team_id FROM records WHERE id = ?`, w.yp).Scan(&team); err != nil || team != w.otherTeam {
		t.Fatalf("young person filed under %q (%v), want %s", team, err, w.otherTeam)
	}
	if status, _ := other.get("/portal/young-people/" + w.yp); status != 200 {
		t.Fatalf("receiving supervisor opens the young person: %d", status)
	}
}
