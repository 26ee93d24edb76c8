package portal

import (
	"strings"
	"testing"
)

// TestDoneBannerComesFromAFixedSet: ?done= names a message; arbitrary text
// in the link never reaches the banner.
func TestDoneBannerComesFromAFixedSet(t *testing.T) {
	env := newTestEnv(t)
	sup := env.signIn("supervisor", 1)
	for _, tc := range []struct {
		name, done string
		want       string // "" : no banner
	}{
		{"known key", "revoked", flashMessages["revoked"]},
		{"crafted text", "your account is suspended, call 0800 000", ""},
		{"crafted markup", "<b>urgent</b>", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sup.get("/portal/devices?done=" + strings.ReplaceAll(tc.done, " ", "+"))
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			has := strings.Contains(body, `class="flash"`)
			if tc.want == "" && has {
				t.Fatalf("banner shown for %q", tc.done)
			}
			if tc.want != "" && (!has || !strings.Contains(body, tc.want)) {
				t.Fatalf("banner for %q missing", tc.done)
			}
			if strings.Contains(body, "0800 000") || strings.Contains(body, "urgent") {
				t.Fatal("crafted text reached the page")
			}
		})
	}
}
