package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAdminImportDryRunThenImport(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1)
	sup := login(t, "supervisor", 1)
	team := teamName(t, e, personByEmail(t, sup.Email).TeamID)
	header := "name,email,role,team,supervises,service,tz\n"
	good := header +
		"Alex Field,alex.field@joinedup.test,worker," + team + ",,,Europe/London\n" +
		"\"Casey, the supervisor\",casey@joinedup.test,supervisor," + team + "," + team + ",,\n"
	tests := []struct {
		name       string
		csv        string
		commit     bool
		wantStatus int
		wantIn     []string
		changes    bool
	}{
		{"wrong columns", "name,mail\nA,a@x.org\n", false, 422, []string{"name the columns"}, false},
		{"no people", header, false, 422, []string{"no people"}, false},
		{"rows with errors", header +
			"Dup," + strings.ToUpper(sup.Email) + ",worker," + team + ",,,\n" +
			"Nowhere,n@joinedup.test,worker,Team Atlantis,,,\n" +
			"Twice,twice@joinedup.test,worker," + team + ",,,\n" +
			"Twice again,twice@joinedup.test,worker," + team + ",,,\n" +
			"Lonely,lonely@joinedup.test,supervisor,,,,\n", true, 422,
			[]string{"already the e-mail address", "no team", "at least one team", "4 rows need fixing"}, false},
		{"clean dry run", good, false, 200, []string{"every row is fine", "Casey, the supervisor"}, false},
		{"import", good, true, 200, []string{"Imported 2 people"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := orgSnapshot(t, e)
			form := url.Values{"csv": {tc.csv}}
			if tc.commit {
				form.Set("commit", "1")
			}
			status, body := admin.post("/portal/admin/people/import", form)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", status, tc.wantStatus, trunc(body))
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(body, w) {
					t.Errorf("page does not say %q", w)
				}
			}
			if changed := orgSnapshot(t, e) != before; changed != tc.changes {
				t.Fatalf("changed = %v, want %v", changed, tc.changes)
			}
		})
	}
	if status, _ := e.signIn("supervisor", 1).post("/portal/admin/people/import", url.Values{"csv": {good}, "commit": {"1"}}); status != http.StatusForbidden {
		t.Fatalf("a supervisor importing: %d, want 403", status)
	}
}
