package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/api"
)

// TestRefusalsInTheClientsLanguage: a refusal is worded in the language the
// request asks for when the catalogue has it (the field app sends its own),
// and says so in Content-Language; without one it stays English for machine
// clients. The code never changes.
func TestRefusalsInTheClientsLanguage(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	for _, tc := range []struct {
		name, path, auth, lang string
		body                   string
		wantStatus             int
		wantCode, wantContains string
		wantLang               string
	}{
		{"enrol, Welsh", "/v1/enrol", "", "cy", `{"code":"NOPE-NOPE","platform":"web"}`, 401, "unauthorized", "nid yw'r cod cofrestru yn ddilys", "cy"},
		{"enrol, Welsh first of two", "/v1/enrol", "", "cy-GB,cy;q=0.9,en;q=0.5", `{"code":"NOPE-NOPE","platform":"web"}`, 401, "unauthorized", "nid yw'r cod cofrestru yn ddilys", "cy"},
		{"enrol, English", "/v1/enrol", "", "en-GB", `{"code":"NOPE-NOPE","platform":"web"}`, 401, "unauthorized", "enrolment code is not valid", ""},
		{"enrol, no language", "/v1/enrol", "", "", `{"code":"NOPE-NOPE","platform":"web"}`, 401, "unauthorized", "enrolment code is not valid", ""},
		{"sync, unknown device, Welsh", "/v1/sync", "Bearer forged", "cy", `{"cursor":""}`, 401, "unauthorized", "nid yw'r gweinydd yn adnabod y ddyfais hon", "cy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.lang != "" {
				req.Header.Set("Accept-Language", tc.lang)
			}
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body api.ErrorBody
			must(t, json.Unmarshal(raw, &body))
			if resp.StatusCode != tc.wantStatus || body.Code != tc.wantCode || !strings.Contains(body.Message, tc.wantContains) {
				t.Fatalf("got %d %s, want %d %s containing %q", resp.StatusCode, raw, tc.wantStatus, tc.wantCode, tc.wantContains)
			}
			if got := resp.Header.Get("Content-Language"); got != tc.wantLang {
				t.Fatalf("Content-Language %q, want %q", got, tc.wantLang)
			}
		})
	}
}
