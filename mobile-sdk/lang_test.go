package mobilesdk

import (
	"strings"
	"testing"
)

// TestErrorsInTheAppsLanguage: after SetLanguage("cy") the server's refusal
// comes worded in Welsh and says so (ErrorLanguage); a save the schema
// refuses on the phone names the broken rules (ErrorFields), for the app to
// word in its own language.
func TestErrorsInTheAppsLanguage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	for _, tc := range []struct {
		lang, wantLang, wantContains string
	}{
		{"", "", "enrolment code is not valid"},
		{"en", "", "enrolment code is not valid"},
		{"cy", "cy", "nid yw'r cod cofrestru yn ddilys"},
	} {
		c, err := open(t.TempDir(), testKey, "sim", options{})
		must(t, err)
		must(t, c.SetLanguage(tc.lang))
		_, err = c.Enrol(s.url, "NOPE-NOPE")
		c.Close()
		if ErrorCode(err) != "unauthorized" || ErrorLanguage(err) != tc.wantLang || !strings.Contains(ErrorMessage(err), tc.wantContains) {
			t.Errorf("language %q: %s %q in %q, want unauthorized %q in %q", tc.lang, ErrorCode(err), ErrorMessage(err), ErrorLanguage(err), tc.wantContains, tc.wantLang)
		}
	}
	c := s.phone("w_a")
	if err := c.SetLanguage("cy\r\nX-Evil: 1"); ErrorCode(err) != "invalid" {
		t.Errorf("a header in the language tag: %v", err)
	}
	must(t, c.SetDefaultTeam("team_a"))
	_, err := c.CreateEncounter(`{"area":"51.4816, -3.1791"}`)
	if got := ErrorFields(err); ErrorCode(err) != "invalid" || got != `[{"field":"area","rule":"nocoords"}]` {
		t.Errorf("coordinates in the area: %v, fields %s", err, got)
	}
	if got := ErrorFields(nil); got != "[]" {
		t.Errorf("no error's fields: %s", got)
	}
}
