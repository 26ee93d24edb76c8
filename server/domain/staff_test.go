package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateStaffEdits(t *testing.T) {
	org := Org{
		Teams:    []Team{{ID: "ta", AreaID: "n", Name: "A"}},
		Services: []Service{{ID: "sx", Name: "Housing"}},
		People:   []Person{{ID: "p1", Name: "Ann", Email: "ann@example.org", Role: RoleWorker, TeamID: "ta"}},
	}
	hours := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name     string
		p        Person
		wantCode string // "" valid
		wantIn   string
	}{
		{"worker", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta"}, "", ""},
		{"supervisor of own team", Person{ID: "n", Name: "Sue", Email: "sue@example.org", Role: RoleSupervisor, TeamID: "ta", Supervises: []string{"ta"}}, "", ""},
		{"editing keeps own e-mail", Person{ID: "p1", Name: "Ann", Email: "ann@example.org", Role: RoleWorker, TeamID: "ta"}, "", ""},
		{"duplicate e-mail", Person{ID: "n", Name: "Ben", Email: "ANN@example.org", Role: RoleWorker, TeamID: "ta"}, ECONFLICT, "already the e-mail"},
		{"unknown team", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "tz"}, EINVALID, "no team"},
		{"worker without team", Person{ID: "n", Name: "Ben", Role: RoleWorker}, EINVALID, "belongs to a team"},
		{"supervisor of no team", Person{ID: "n", Name: "Sue", Email: "sue@example.org", Role: RoleSupervisor}, EINVALID, "at least one team"},
		{"supervises unknown team", Person{ID: "n", Name: "Sue", Email: "sue@example.org", Role: RoleSupervisor, Supervises: []string{"tz"}}, EINVALID, "no team"},
		{"worker supervising", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta", Supervises: []string{"ta"}}, EINVALID, "only a supervisor"},
		{"practitioner without service", Person{ID: "n", Name: "Pat", Email: "pat@example.org", Role: RolePractitioner}, EINVALID, "works for a service"},
		{"admin without e-mail", Person{ID: "n", Name: "Ad", Role: RoleAdmin}, EINVALID, "needs an e-mail"},
		{"bad e-mail", Person{ID: "n", Name: "Ad", Email: "not an address", Role: RoleAdmin}, EINVALID, "not an e-mail"},
		{"unknown role", Person{ID: "n", Name: "X", Email: "x@example.org", Role: "root"}, EINVALID, "choose a role"},
		{"no name", Person{ID: "n", Role: RoleWorker, TeamID: "ta"}, EINVALID, "name"},
		{"bad time zone", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta", TZ: "Mars/Olympus"}, EINVALID, "not a time zone"},
		{"good hours", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta", TZ: "Europe/London",
			Hours: hours(`[{"Weekday":1,"Start":"09:00","End":"12:00"},{"Weekday":1,"Start":"13:00","End":"17:00"}]`)}, "", ""},
		{"overlapping hours", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta",
			Hours: hours(`[{"Weekday":1,"Start":"09:00","End":"13:30"},{"Weekday":1,"Start":"13:00","End":"17:00"}]`)}, EINVALID, "overlaps"},
		{"hours ending before they start", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta",
			Hours: hours(`[{"Weekday":2,"Start":"17:00","End":"09:00"}]`)}, EINVALID, "ends before"},
		{"hours not times", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta",
			Hours: hours(`[{"Weekday":2,"Start":"9am","End":"17:00"}]`)}, EINVALID, "HH:MM"},
		{"day out of range", Person{ID: "n", Name: "Ben", Role: RoleWorker, TeamID: "ta",
			Hours: hours(`[{"Weekday":9,"Start":"09:00","End":"17:00"}]`)}, EINVALID, "not a day"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePerson(tc.p, org)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != tc.wantCode || !strings.Contains(ErrorMessage(err), tc.wantIn) {
				t.Fatalf("err = %v, want %s saying %q", err, tc.wantCode, tc.wantIn)
			}
		})
	}
}

func TestValidateServiceAgreement(t *testing.T) {
	if got := SharableFields(); len(got) < 5 || got[0] != "young_person_id" {
		t.Fatalf("sharable fields from the schema = %v", got)
	}
	for _, tc := range []struct {
		name   string
		s      Service
		wantIn string
	}{
		{"agreement of schema fields", Service{Name: "Housing", SharedFields: []string{"reason", "urgency"}}, ""},
		{"agreement naming an unknown field", Service{Name: "Housing", SharedFields: []string{"reason", "home_address"}}, "home_address"},
		{"no name", Service{}, "name"},
		{"overlapping hours", Service{Name: "H", TZ: "Europe/London",
			Hours: json.RawMessage(`[{"Weekday":3,"Start":"09:00","End":"17:00"},{"Weekday":3,"Start":"10:00","End":"11:00"}]`)}, "overlaps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateService(tc.s)
			if (tc.wantIn == "") != (err == nil) || err != nil && !strings.Contains(ErrorMessage(err), tc.wantIn) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantIn)
			}
		})
	}
}
