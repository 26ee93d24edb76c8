package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// The domain's refusals that reach a person on a portal page are worded
// from the Welsh catalogue, arguments and all: none falls back to English.
func TestDomainRefusalsInWelsh(t *testing.T) {
	org := domain.Org{Teams: []domain.Team{{ID: "t1", Name: "North"}}, People: []domain.Person{{ID: "p1", Email: "a@b.test"}}}
	yp := func(id string) *syncengine.Record {
		return &syncengine.Record{ID: syncengine.RecordID(id), Type: syncengine.TypeYoungPerson}
	}
	hours := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name string
		err  error
	}{
		{"no name", domain.ValidatePerson(domain.Person{Role: domain.RoleWorker, TeamID: "t1"}, org)},
		{"bad role", domain.ValidatePerson(domain.Person{Name: "X", Role: "root"}, org)},
		{"bad e-mail", domain.ValidatePerson(domain.Person{Name: "X", Role: domain.RoleWorker, Email: "nope", TeamID: "t1"}, org)},
		{"taken e-mail", domain.ValidatePerson(domain.Person{ID: "p2", Name: "X", Role: domain.RoleWorker, Email: "a@b.test", TeamID: "t1"}, org)},
		{"supervisor without e-mail", domain.ValidatePerson(domain.Person{Name: "X", Role: domain.RoleSupervisor, Supervises: []string{"t1"}}, org)},
		{"unknown team", domain.ValidatePerson(domain.Person{Name: "X", Role: domain.RoleWorker, TeamID: "t9"}, org)},
		{"supervises unknown team", domain.ValidatePerson(domain.Person{Name: "X", Role: domain.RoleSupervisor, Email: "s@b.test", Supervises: []string{"t9"}}, org)},
		{"unknown service", domain.ValidatePerson(domain.Person{Name: "X", Role: domain.RoleWorker, TeamID: "t1", ServiceID: "s9"}, org)},
		{"bad time zone", domain.ValidateHours("Mars/Olympus", nil)},
		{"bad time", domain.ValidateHours("", hours(`[{"weekday":1,"start":"9","end":"17:00"}]`))},
		{"ends before it starts", domain.ValidateHours("", hours(`[{"weekday":2,"start":"17:00","end":"09:00"}]`))},
		{"overlapping hours", domain.ValidateHours("", hours(`[{"weekday":3,"start":"09:00","end":"13:00"},{"weekday":3,"start":"12:00","end":"17:00"}]`))},
		{"taken team name", domain.ValidateTeam(domain.Team{ID: "t2", Name: "north", AreaID: "a"}, []domain.Area{{ID: "a"}}, org)},
		{"unknown shared field", domain.ValidateService(domain.Service{Name: "Food", SharedFields: []string{"home_address"}})},
		{"deactivated twice", domain.CheckDeactivate(domain.Person{Name: "Sam", Deactivated: time.Unix(1, 0)}, "p1")},
		{"merge into itself", domain.CheckMerge(domain.MergeRequest{Winner: yp("y1"), Loser: yp("y1"), Reason: "same child"})},
		{"merge without reason", domain.CheckMerge(domain.MergeRequest{Winner: yp("y1"), Loser: yp("y2")})},
		{"legal hold", domain.ErrLegalHold("enc_1")},
		{"transfer decided", func() error {
			_, err := domain.DecideTransfer(domain.Scope{}, domain.Transfer{Status: "accepted"}, "accept")
			return err
		}()},
		{"retention of unknown type", domain.CheckRetentionRule(domain.RetentionRule{Type: "diary", KeepDays: 100})},
		{"discard by a team the record left", domain.ErrNotYoursToDiscard},
	}
	cy := i18n.For(i18n.Welsh)
	i18n.Misses()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("the rule did not refuse")
			}
			key, args, ok := domain.ErrorText(tc.err)
			if !ok {
				t.Fatalf("%v: no catalogue key in the error", tc.err)
			}
			got := cy.Refusal(key, args)
			if miss := i18n.Misses(); len(miss) > 0 {
				t.Fatalf("%q: Welsh catalogue misses %q (shown as %q)", key, miss, got)
			}
			if en := domain.ErrorMessage(tc.err); got == en {
				t.Fatalf("%q shown in English in Welsh mode", en)
			}
		})
	}
}

// An admin reading the portal in Welsh sees a refused form's reason in
// Welsh, with its arguments in place.
func TestAdminFormRefusalInWelsh(t *testing.T) {
	e := newTestEnv(t)
	admin := e.signIn("admin", 1)
	admin.lang = "cy"
	team := personByEmail(t, login(t, "supervisor", 1).Email).TeamID
	form := func(kv ...string) url.Values {
		v := url.Values{"name": {"Person Newydd"}, "role": {"worker"}, "team_id": {team}, "tz": {"Europe/London"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name      string
		form      url.Values
		want, not string
	}{
		{"bad e-mail", form("email", "nope"), "nid yw &#34;nope&#34; yn gyfeiriad e-bost", "is not an e-mail address"},
		{"supervisor without e-mail", form("role", "supervisor"), "mae goruchwyliwr yn mewngofnodi", "signs in to the portal"},
		{"overlapping hours", form("hours-1-0-start", "09:00", "hours-1-0-end", "13:00", "hours-1-1-start", "12:30", "hours-1-1-end", "17:00"),
			"Dydd Llun: mae 09:00–13:00 yn gorgyffwrdd", "overlaps"},
	}
	i18n.Misses()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := admin.post("/portal/admin/people/new", tc.form)
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || strings.Contains(body, tc.not) {
				t.Fatalf("status %d, want 422 saying %q and not %q\n%s", status, tc.want, tc.not, trunc(body))
			}
			if miss := i18n.Misses(); len(miss) > 0 {
				t.Fatalf("Welsh catalogue misses %q", miss)
			}
		})
	}
}

// Every audit action the domain records is named in Welsh on the audit log
// (the page words it with `human`, which counts a miss).
func TestAuditActionsInWelsh(t *testing.T) {
	actions := []string{domain.ActionDeactivate, domain.ActionPasswordLink, domain.ActionPasswordSet, domain.ActionUnlock,
		domain.ActionEndSessions, domain.ActionTwoFactor, domain.ActionTransfer, domain.ActionPurged, domain.ActionRetain,
		domain.ActionHold, domain.ActionSettings}
	actions = append(actions, auditActions...)
	cy := i18n.For(i18n.Welsh)
	i18n.Misses()
	for _, a := range actions {
		t.Run(a, func(t *testing.T) {
			if got := cy.Value(a); got == strings.ReplaceAll(a, "_", " ") {
				t.Errorf("%q is shown in English", a)
			}
			if miss := i18n.Misses(); len(miss) > 0 {
				t.Errorf("Welsh catalogue misses %q", miss)
			}
		})
	}
}
