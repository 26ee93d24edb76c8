package portal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Search finds narratives in the supervisor's teams only, and is audited as
// a read without keeping the terms in plain text.
func TestSearchNarrativesInScopeAudited(t *testing.T) {
	env := newTestEnv(t)
	w := findWorld(t, env)
	mk := func(team string) string {
		var id syncengine.RecordID
		_, err := env.db.ServerEdit(context.Background(), w.admin, func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			if err := tx.Set(id, "team_id", team); err != nil {
				return err
			}
			if err := tx.Set(id, "area", "Library"); err != nil {
				return err
			}
			if err := tx.Set(id, "started_at", testNow.Add(-time.Hour)); err != nil {
				return err
			}
			return tx.InsertText(id, "note", 0, "Talked about the Quokkaland trip and college")
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(id)
	}
	mine, theirs := mk(w.team), mk(w.otherTeam)
	sup := env.signIn("supervisor", 1)
	cases := []struct {
		q                 string
		want              int
		contains, notWant string
	}{
		{"quokkaland", 200, "/encounters/" + mine, "/encounters/" + theirs},
		{"QUOKKALAND TRIP", 200, "/encounters/" + mine, "/encounters/" + theirs},
		{"q", 422, "", ""},
	}
	for _, tc := range cases {
		st, body := sup.get("/portal/search?q=" + strings.ReplaceAll(tc.q, " ", "+"))
		if st != tc.want {
			t.Fatalf("%q: %d, want %d", tc.q, st, tc.want)
		}
		if tc.contains != "" && !strings.Contains(body, tc.contains) {
			t.Errorf("%q: no hit in the supervisor's team", tc.q)
		}
		if tc.notWant != "" && strings.Contains(body, tc.notWant) {
			t.Errorf("%q: a hit from another team", tc.q)
		}
	}
	entries, err := env.db.Audit(context.Background(), domain.AuditFilter{PersonID: w.supervisor, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Detail["page"] == "search" && e.Detail["query_sha256"] != nil {
			found = true
			if strings.Contains(strings.ToLower(fmt.Sprint(e.Detail)), "quokka") {
				t.Fatalf("the audit keeps the search terms: %v", e.Detail)
			}
		}
	}
	if !found {
		t.Fatal("the search is not in the audit log")
	}
}
