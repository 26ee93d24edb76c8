package portal

import (
	"net/http"
	"testing"
)

func TestSmokePages(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	for _, path := range []string{"/portal/dashboard", "/portal/encounters", "/portal/young-people", "/portal/referrals", "/portal/services",
		"/portal/devices", "/portal/reports", "/portal/audit", "/portal/quarantine"} {
		status, body := sup.get(path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, status, trunc(body))
		}
	}
}
