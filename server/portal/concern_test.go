package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/syncengine"
)

// concernEncounter saves an encounter from a worker's phone with the given
// concern fields (nil: not set), as a phone on any version might.
func concernEncounter(t *testing.T, env *testEnv, w world, flag *bool, level string) syncengine.RecordID {
	t.Helper()
	ph := newPhone(t, env.db, w.worker)
	var id syncengine.RecordID
	cs := ph.edit(func(tx *syncengine.Txn) error {
		var err error
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for _, kv := range []struct {
			f string
			v any
		}{{"team_id", w.team}, {"area", "Concern test area"}, {"started_at", testNow.Add(-time.Hour)}, {"review_status", "awaiting_review"}} {
			if err := tx.Set(id, kv.f, kv.v); err != nil {
				return err
			}
		}
		if flag != nil {
			if err := tx.Set(id, "concern", *flag); err != nil {
				return err
			}
		}
		if level != "" {
			if err := tx.Set(id, "concern_level", level); err != nil {
				return err
			}
		}
		return tx.Add(id, "workers", w.worker)
	})
	push(t, env.db, cs)
	return id
}

// The concern level is the one source: an encounter at "urgent" whose old
// "concern" flag is unset or false is a concern on every page and filter.
func TestConcernLevelIsTheOneSource(t *testing.T) {
	no, yes := false, true
	cases := []struct {
		name      string
		flag      *bool
		level     string
		wantLevel string // "" means no concern
	}{
		{"urgent, flag false", &no, "urgent", "urgent"},
		{"high, flag unset", nil, "high", "high"},
		{"none, flag true", &yes, "none", ""},
		{"flag only, no level", &yes, "", "low"},
		{"nothing", nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			w := findWorld(t, env)
			id := string(concernEncounter(t, env, w, tc.flag, tc.level))
			sup := env.signIn("supervisor", 1)
			_, detail := sup.get("/portal/encounters/" + id)
			shown := strings.Contains(detail, `<span class="tag concern">`+tc.wantLevel+`</span>`)
			if tc.wantLevel != "" && !shown {
				t.Errorf("detail does not show concern %q:\n%s", tc.wantLevel, trunc(detail))
			}
			if tc.wantLevel == "" && strings.Contains(detail, `class="tag concern"`) {
				t.Errorf("detail shows a concern that is not there")
			}
			listed := func(filter string) bool {
				_, body := sup.get("/portal/encounters?area=" + "Concern+test+area" + "&concern=" + filter)
				return strings.Contains(body, "/encounters/"+id)
			}
			isConcern := tc.wantLevel != ""
			isHigh := tc.wantLevel == "high" || tc.wantLevel == "urgent"
			if got := listed("yes"); got != isConcern {
				t.Errorf("concern=yes lists it: %v, want %v", got, isConcern)
			}
			if got := listed("no"); got == isConcern {
				t.Errorf("concern=no lists it: %v, want %v", got, !isConcern)
			}
			if got := listed("high"); got != isHigh {
				t.Errorf("concern=high lists it: %v, want %v", got, isHigh)
			}
			_, dash := sup.get("/portal/dashboard")
			if got := strings.Contains(section(dash, "h-concerns"), "/encounters/"+id); got != isConcern {
				t.Errorf("dashboard's concerns list it: %v, want %v", got, isConcern)
			}
		})
	}
}

// section is the part of a page from the heading with id to the end of its section.
func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</section>")
	if j < 0 {
		return page[i:]
	}
	return page[i : i+j]
}

// A high concern is on the dashboard until a supervisor of its team
// acknowledges it with a note; nobody else can, and the note is required.
func TestConcernAlertStaysOpenUntilAcknowledged(t *testing.T) {
	env := newTestEnv(t)
	env.db.Rules = notify.New(notify.DefaultConfig())
	w := findWorld(t, env)
	id := string(concernEncounter(t, env, w, nil, "urgent"))
	sup, other, admin := env.signIn("supervisor", 1), env.signIn("supervisor", 2), env.signIn("admin", 1)

	_, dash := sup.get("/portal/dashboard")
	if !strings.Contains(section(dash, "h-alerts"), "/encounters/"+id) {
		t.Fatalf("the open alert is not on the supervisor's dashboard:\n%s", trunc(dash))
	}
	if _, dash := other.get("/portal/dashboard"); strings.Contains(dash, id) {
		t.Fatal("another team's supervisor sees the alert")
	}
	if _, list := sup.get("/portal/concerns"); !strings.Contains(list, "/encounters/"+id) || !strings.Contains(list, "open") {
		t.Fatal("the concerns list lacks the open alert")
	}
	ack := "/portal/encounters/" + id + "/acknowledge"
	cases := []struct {
		name string
		who  *client
		note string
		want int
	}{
		{"another team's supervisor", other, "seen", http.StatusNotFound},
		{"no note", sup, "   ", http.StatusUnprocessableEntity},
		{"forged id", sup, "seen", http.StatusNotFound},
		{"the team's supervisor", sup, "Rang the worker; strategy meeting at 9", http.StatusSeeOther},
	}
	for _, tc := range cases {
		path := ack
		if tc.name == "forged id" {
			path = "/portal/encounters/" + w.otherEncounter + "/acknowledge"
		}
		if st, body := tc.who.post(path, url.Values{"note": {tc.note}}); st != tc.want {
			t.Fatalf("%s: %d, want %d\n%s", tc.name, st, tc.want, trunc(body))
		}
	}
	if _, dash := sup.get("/portal/dashboard"); strings.Contains(section(dash, "h-alerts"), id) {
		t.Fatal("the acknowledged alert is still open on the dashboard")
	}
	_, detail := admin.get("/portal/encounters/" + id)
	if !strings.Contains(detail, "Rang the worker; strategy meeting at 9") || strings.Contains(detail, `id="ack"`) {
		t.Fatalf("detail after acknowledgement:\n%s", trunc(detail))
	}
	alerts, _ := env.db.ConcernAlerts(context.Background(), domain.ConcernAlertFilter{EncounterID: id})
	if len(alerts) != 1 || alerts[0].AckedBy != w.supervisor {
		t.Fatalf("alerts %+v", alerts)
	}
}

// Deleting the encounter on a phone does not hide its open alert.
func TestDeletedEncounterKeepsItsAlertOpen(t *testing.T) {
	env := newTestEnv(t)
	env.db.Rules = notify.New(notify.DefaultConfig())
	w := findWorld(t, env)
	id := concernEncounter(t, env, w, nil, "high")
	ph := newPhone(t, env.db, w.worker)
	ph.load(id)
	push(t, env.db, ph.edit(func(tx *syncengine.Txn) error { return tx.Delete(id) }))
	sup := env.signIn("supervisor", 1)
	if _, dash := sup.get("/portal/dashboard"); !strings.Contains(section(dash, "h-alerts"), "/encounters/"+string(id)) {
		t.Fatal("the deleted encounter's open alert left the dashboard")
	}
}
