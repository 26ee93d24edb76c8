package sqlite_test

import (
	"context"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// TestPeopleListSupervisedTeams: a list of people (one query for all their
// teams) gives each person the teams Person gives them, for every filter.
func TestPeopleListSupervisedTeams(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustOrg(t, db)
	must(t, db.UpsertTeam(ctx, domain.Team{ID: "team_c", AreaID: "north", Name: "C"}))
	for _, p := range []domain.Person{
		{ID: "s2", Name: "Sup Two", Role: domain.RoleSupervisor, TeamID: "team_b", Supervises: []string{"team_c"}},
		{ID: "s3", Name: "Sup Three", Role: domain.RoleSupervisor, TeamID: "team_c"},
		{ID: "m1", Name: "Lead", Role: domain.RoleAdmin, Supervises: []string{"team_a", "team_b", "team_c"}},
		{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_c"},
	} {
		must(t, db.UpsertPerson(ctx, p))
	}
	for _, tc := range []struct {
		name    string
		filter  domain.PeopleFilter
		wantIDs []string
	}{
		{"everyone", domain.PeopleFilter{}, []string{"m1", "s1", "s3", "s2", "w1", "w2"}},
		{"admins", domain.PeopleFilter{Role: domain.RoleAdmin}, []string{"m1"}},
		{"supervisors", domain.PeopleFilter{Role: domain.RoleSupervisor}, []string{"s1", "s3", "s2"}},
		{"team_c", domain.PeopleFilter{TeamID: "team_c"}, []string{"s3", "w2"}},
		{"supervisors of team_b", domain.PeopleFilter{Role: domain.RoleSupervisor, TeamID: "team_b"}, []string{"s2"}},
		{"nobody", domain.PeopleFilter{Role: domain.RolePractitioner}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := db.People(ctx, tc.filter)
			must(t, err)
			var ids []string
			for _, p := range ps {
				ids = append(ids, p.ID)
				one, err := db.Person(ctx, p.ID)
				must(t, err)
				if !slices.Equal(p.Supervises, one.Supervises) {
					t.Errorf("%s supervises %v in the list, %v alone", p.ID, p.Supervises, one.Supervises)
				}
			}
			if !slices.Equal(ids, tc.wantIDs) {
				t.Errorf("listed %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}
