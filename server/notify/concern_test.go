package notify_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/syncengine"
)

// encounter saves an encounter in team_a with a concern level (and the old
// flag false, as phones that grade the concern leave it).
func (p *phone) encounter(yp syncengine.RecordID, level, note string) syncengine.RecordID {
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		if err := set(tx, id, "team_id", "team_a", "area", "Park", "started_at", p.e.clock.Now().UTC().Format(time.RFC3339),
			"concern", false, "concern_level", level); err != nil {
			return err
		}
		if err := tx.Add(id, "young_people", string(yp)); err != nil {
			return err
		}
		return tx.InsertText(id, "note", 0, note)
	})
	return id
}

// withLead adds a designated safeguarding lead (a supervisor of another
// team, working 09-17) and returns their phone.
func withLead(t *testing.T, e *env) *phone {
	t.Helper()
	must(t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "dsl", Name: "Dana Lead", Role: "supervisor", TeamID: "team_b",
		TZ: "Europe/London", Hours: weekdays("09:00", "17:00"), SafeguardingLead: true}))
	return e.phone("dsl")
}

const disclosure = "Jamie disclosed being taken to a flat by older men"

// An urgent concern saved late on a Sunday night reaches the team's
// supervisor and the safeguarding lead at once, through the real Firebase SDK,
// with nothing personal in the payload; unacknowledged, it escalates.
func TestUrgentConcernNotifiesAtOnceAndEscalates(t *testing.T) {
	e := newEnv(t)
	sunday := time.Date(2026, 3, 1, 23, 30, 0, 0, london)
	e.clock.Set(sunday)
	worker, sup, lead := e.phone("w_a"), e.phone("sup_a"), withLead(t, e)
	enc := worker.encounter(worker.youngPerson("Jamie", false), "urgent", disclosure)
	worker.sync()

	got := e.sendDue()
	for _, ph := range []*phone{sup, lead} {
		if k := kinds(got[ph.token]); !slices.Equal(k, []string{push.KindConcernRaised}) {
			t.Fatalf("%s on Sunday 23:30 got %v, want the concern at once", ph.person, k)
		}
		if d := dataOf(got[ph.token][0]); d["record_id"] != string(enc) || d["urgent"] != "1" {
			t.Fatalf("%s: concern data %v", ph.person, d)
		}
	}
	if len(got[worker.token]) != 0 {
		t.Fatalf("the worker who raised it was notified: %v", kinds(got[worker.token]))
	}
	noPersonalData(t, got, "Jamie", "Robin", "flat", "older men", "Park")

	alerts, err := e.db.ConcernAlerts(context.Background(), domain.ConcernAlertFilter{OpenOnly: true})
	must(t, err)
	if len(alerts) != 1 || alerts[0].EncounterID != string(enc) || alerts[0].Level != "urgent" || !alerts[0].Open() {
		t.Fatalf("open alerts %+v", alerts)
	}

	// A replayed sync plans nothing new.
	worker.outbox = nil
	worker.sync()
	if n := e.count(`SELECT count(*) FROM push_outbox WHERE record_id = ?`, string(enc)); n != 3 {
		t.Fatalf("%d outbox rows after a replay, want 3 (two told, one escalation)", n)
	}

	e.clock.Set(sunday.Add(29 * time.Minute))
	if got := e.sendDue(); len(got) != 0 {
		t.Fatalf("escalated early: %v", got)
	}
	e.clock.Set(sunday.Add(30 * time.Minute))
	got = e.sendDue()
	if k := kinds(got[lead.token]); !slices.Equal(k, []string{push.KindConcernEscalation}) {
		t.Fatalf("lead after 30 minutes got %v, want the escalation", k)
	}
	noPersonalData(t, got, "Jamie", "Robin", "flat", "older men", "Park")
	alerts, _ = e.db.ConcernAlerts(context.Background(), domain.ConcernAlertFilter{OpenOnly: true})
	if len(alerts) != 1 {
		t.Fatal("the alert closed without anyone acknowledging it")
	}
}

// Acknowledged in time, a concern does not escalate; the alert closes with
// who, when and the note. Levels below high page nobody.
func TestConcernAcknowledgedInTimeDoesNotEscalate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	worker, lead := e.phone("w_a"), withLead(t, e)
	yp := worker.youngPerson("Kai", false)
	high := worker.encounter(yp, "high", disclosure)
	medium := worker.encounter(yp, "medium", "Talked about college")
	worker.sync()
	if n := e.count(`SELECT count(*) FROM push_outbox WHERE record_id = ?`, string(medium)); n != 0 {
		t.Fatalf("a medium concern planned %d notifications", n)
	}
	if got := e.sendDue(); len(got[lead.token]) != 1 {
		t.Fatalf("lead got %v", kinds(got[lead.token]))
	}

	if _, err := e.db.AcknowledgeConcern(ctx, string(high), "sup_a", "  "); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("acknowledging without a note: %v, want invalid", err)
	}
	e.clock.Set(monday10.Add(10 * time.Minute))
	n, err := e.db.AcknowledgeConcern(ctx, string(high), "sup_a", "Called the worker; strategy meeting booked")
	must(t, err)
	if n != 1 {
		t.Fatalf("acknowledged %d alerts, want 1", n)
	}
	if n, _ := e.db.AcknowledgeConcern(ctx, string(high), "sup_a", "again"); n != 0 {
		t.Fatalf("a second acknowledgement closed %d", n)
	}
	e.clock.Set(monday10.Add(2 * time.Hour))
	if got := e.sendDue(); len(got) != 0 {
		t.Fatalf("acknowledged concern escalated: %v", got)
	}
	all, _ := e.db.ConcernAlerts(ctx, domain.ConcernAlertFilter{EncounterID: string(high)})
	if len(all) != 1 || all[0].Open() || all[0].AckedBy != "sup_a" || !all[0].AckedAt.Equal(monday10.Add(10*time.Minute)) {
		t.Fatalf("alert after acknowledgement %+v", all)
	}

	// Raised again to urgent: a new alert and new notifications.
	worker.edit(func(tx *syncengine.Txn) error { return tx.Set(high, "concern_level", "urgent") })
	worker.sync()
	open, _ := e.db.ConcernAlerts(ctx, domain.ConcernAlertFilter{OpenOnly: true})
	if len(open) != 1 || open[0].Level != "urgent" {
		t.Fatalf("after raising to urgent, open alerts %+v", open)
	}
	if got := e.sendDue(); len(got[lead.token]) != 1 {
		t.Fatalf("lead not told of the raise to urgent: %v", kinds(got[lead.token]))
	}
}
