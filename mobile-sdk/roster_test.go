package mobilesdk

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestRosterReachesThePhone: a phone holds its own team's active workers
// and supervisors for "workers present" (Client.Workers), never another
// team's; a worker moved to another team or deactivated is gone after the
// next sync, and the roster is kept offline.
func TestRosterReachesThePhone(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	ctx := context.Background()
	must(t, s.db.UpsertTeam(ctx, domain.Team{ID: "team_b", AreaID: "north", Name: "B"}))
	must(t, s.db.UpsertPerson(ctx, domain.Person{ID: "w_b", Name: "Worker B", Role: "worker", TeamID: "team_b"}))
	p := s.phone("w_a")
	roster := func() []string {
		t.Helper()
		var ws []struct{ ID, Name string }
		must(t, json.Unmarshal([]byte(mustS(t)(p.Workers())), &ws))
		var out []string
		for _, w := range ws {
			if w.Name == "" {
				t.Errorf("roster entry %s has no name", w.ID)
			}
			out = append(out, w.ID)
		}
		return out
	}
	if got := roster(); !slices.Equal(got, []string{"sup_a", "w_a", "w_a2"}) {
		t.Fatalf("roster %v, want sup_a, w_a, w_a2 (by name)", got)
	}
	must(t, s.db.UpsertPerson(ctx, domain.Person{ID: "w_a2", Name: "Worker A2", Role: "worker", TeamID: "team_b"}))
	_, err := s.db.DeactivatePerson(ctx, "sup_a", "admin")
	must(t, err)
	if got := roster(); !slices.Equal(got, []string{"sup_a", "w_a", "w_a2"}) {
		t.Fatalf("the roster changed before a sync: %v", got)
	}
	mustS(t)(p.SyncNow())
	if got := roster(); !slices.Equal(got, []string{"w_a"}) {
		t.Fatalf("after a move and a deactivation the roster is %v, want w_a", got)
	}
}
