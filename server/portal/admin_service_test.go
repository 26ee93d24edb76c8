package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// weekForm is what the weekly editor posts for stored hours.
func weekForm(t *testing.T, raw json.RawMessage, v url.Values) url.Values {
	t.Helper()
	var hs []domain.WorkingHours
	_ = json.Unmarshal(raw, &hs)
	n := map[int]int{}
	for _, h := range hs {
		d := int(h.Weekday)
		v.Set(fmt.Sprintf("hours-%d-%d-start", d, n[d]), h.Start)
		v.Set(fmt.Sprintf("hours-%d-%d-end", d, n[d]), h.End)
		n[d]++
	}
	return v
}

// TestServiceEditUsesTheCreateFormsRules: the edit page has the create
// form's weekly editor, checkboxes and validation.
func TestServiceEditUsesTheCreateFormsRules(t *testing.T) {
	e := newTestEnv(t)
	w := findWorld(t, e)
	admin := e.signIn("admin", 1)
	path := "/portal/services/" + w.service
	snapshot := func() string {
		s, err := e.db.Service(context.Background(), w.service)
		must(t, err)
		rec, err := e.db.RecordState(context.Background(), w.service)
		must(t, err)
		var shared []string
		if rec != nil {
			shared = rec.Set("shared_fields")
		}
		return mustJSON([]any{s.Contact, s.Pathway, s.TZ, string(s.Hours), s.SharedFields, shared})
	}

	status, body := admin.get(path)
	for _, want := range []string{`id="week"`, `id="sf-known_as"`, `id="sf-age_band"`, `id="sf-young_person_id"`, `name="tz"`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("edit page: status %d, lacks %s\n%s", status, want, trunc(body))
		}
	}
	if strings.Contains(body, `name="hours"`) {
		t.Fatal("the edit page still asks for hours as JSON")
	}

	form := func(kv ...string) url.Values {
		v := url.Values{"contact": {"01632 960000"}, "pathway": {"Phone first."}, "tz": {"Europe/London"}, "shared": {"reason", "known_as"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v[kv[i]] = append(v[kv[i]][:0:0], kv[i+1])
		}
		return v
	}
	bad := []struct {
		name   string
		form   url.Values
		wantIn string
	}{
		{"agreement naming an unknown field", form("shared", "home_address"), "home_address"},
		{"overlapping hours", form("hours-3-0-start", "09:00", "hours-3-0-end", "17:00", "hours-3-1-start", "10:00", "hours-3-1-end", "11:00"), "overlaps"},
		{"hours ending before they start", form("hours-2-0-start", "17:00", "hours-2-0-end", "09:00"), "ends before"},
		{"bad time zone", form("tz", "Mars/Olympus"), "not a time zone"},
		{"contact too long", form("contact", strings.Repeat("x", 201)), "200 characters"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot()
			status, body := admin.post(path, tc.form)
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, tc.wantIn) ||
				!strings.Contains(body, `id="week"`) {
				t.Fatalf("status %d, want 422 with the form and an error saying %q\n%s", status, tc.wantIn, trunc(body))
			}
			if snapshot() != before {
				t.Fatal("a refused edit changed the service")
			}
		})
	}

	good := form("shared", "known_as", "hours-1-0-start", "09:00", "hours-1-0-end", "12:00", "hours-1-1-start", "13:00", "hours-1-1-end", "17:00")
	good["shared"] = []string{"age_band", "known_as", "young_person_id"}
	if status, body := admin.post(path, good); status != http.StatusSeeOther {
		t.Fatalf("good edit: %d\n%s", status, trunc(body))
	}
	s, err := e.db.Service(context.Background(), w.service)
	must(t, err)
	if string(s.Hours) != `[{"Weekday":1,"Start":"09:00","End":"12:00"},{"Weekday":1,"Start":"13:00","End":"17:00"}]` ||
		strings.Join(s.SharedFields, ",") != "age_band,known_as,young_person_id" || s.TZ != "Europe/London" {
		t.Fatalf("saved %+v (hours %s)", s, s.Hours)
	}
	entries, err := e.db.Audit(context.Background(), domain.AuditFilter{RecordID: w.service, Action: domain.ActionEdit})
	must(t, err)
	if len(entries) != 1 || !strings.Contains(mustJSON(entries[0].Detail), `"hours"`) {
		t.Fatalf("audit of the edit: %+v", entries)
	}
	// The page shows the saved hours back in the editor.
	if _, body := admin.get(path); !strings.Contains(body, `name="hours-1-1-start" value="13:00"`) {
		t.Fatalf("the editor does not show the saved hours\n%s", trunc(body))
	}
}
