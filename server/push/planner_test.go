package push_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/push"
)

var (
	weekdays95 = func() []push.Hours {
		var h []push.Hours
		for d := time.Monday; d <= time.Friday; d++ {
			h = append(h, push.Hours{Weekday: d, Start: "09:00", End: "17:00"})
		}
		return h
	}()
	evenings = []push.Hours{
		{Weekday: time.Monday, Start: "17:00", End: "23:00"},
		{Weekday: time.Wednesday, Start: "17:00", End: "23:00"},
		{Weekday: time.Saturday, Start: "12:00", End: "02:00"},
	}
	worker     = push.Person("worker1", "Europe/London", evenings...)
	supervisor = push.Person("super1", "Europe/London", weekdays95...)
	practA     = push.Person("pracA", "Europe/London", weekdays95...)
	serviceDev = push.Recipient{Kind: push.RecipientService, ID: "svc1", TZ: "Europe/London", Hours: weekdays95}
)

func utc(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) } // March 2026: GMT

func pick(ns []push.Notification, kind, recipient string) []push.Notification {
	var out []push.Notification
	for _, n := range ns {
		if n.Kind == kind && n.RecipientID == recipient {
			out = append(out, n)
		}
	}
	return out
}

func TestPlannerFollowUp(t *testing.T) {
	p := push.Planner{EscalateAfter: 24 * time.Hour}
	tests := []struct {
		name             string
		due              time.Time
		urgent           bool
		wantDue, wantEsc time.Time
	}{
		// Tuesday 10:00 due; the worker is next on Wednesday 17:00; the escalation a day after
		// the worker was told (Thursday 17:00, closing time) waits for Friday 09:00.
		{"waits for worker's evening", utc(3, 10, 0), false, utc(4, 17, 0), utc(6, 9, 0)},
		// Saturday 13:00 due: worker is on; escalation Sunday 13:00 waits for Monday 09:00.
		{"weekend escalation waits for monday", utc(7, 13, 0), false, utc(7, 13, 0), utc(9, 9, 0)},
		// Urgent: now, and escalation exactly a day later whatever the hours.
		{"urgent ignores hours", utc(3, 10, 0), true, utc(3, 10, 0), utc(4, 10, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := p.FollowUp(push.FollowUp{ID: "fu1", Due: tc.due, Urgent: tc.urgent, Assignee: worker, Supervisors: []push.Recipient{supervisor}})
			if len(ns) != 2 {
				t.Fatalf("got %d notifications: %+v", len(ns), ns)
			}
			d, e := pick(ns, push.KindFollowUpDue, "worker1"), pick(ns, push.KindFollowUpEscalation, "super1")
			if len(d) != 1 || len(e) != 1 {
				t.Fatalf("plan %+v", ns)
			}
			wantEsc := tc.wantEsc
			if !d[0].NotBefore.Equal(tc.wantDue) || !e[0].NotBefore.Equal(wantEsc) {
				t.Errorf("due at %v (want %v), escalation at %v (want %v)", d[0].NotBefore, tc.wantDue, e[0].NotBefore, wantEsc)
			}
			if d[0].Urgent != tc.urgent || d[0].RecordID != "fu1" {
				t.Errorf("due notification %+v", d[0])
			}
			for _, n := range ns {
				if err := n.Validate(); err != nil {
					t.Error(err)
				}
			}
			again := p.FollowUp(push.FollowUp{ID: "fu1", Due: tc.due, Urgent: tc.urgent, Assignee: worker, Supervisors: []push.Recipient{supervisor}})
			if !reflect.DeepEqual(ns, again) {
				t.Error("planning is not deterministic")
			}
		})
	}
	moved := p.FollowUp(push.FollowUp{ID: "fu1", Due: utc(3, 11, 0), Assignee: worker})
	if moved[0].ID == p.FollowUp(push.FollowUp{ID: "fu1", Due: utc(3, 10, 0), Assignee: worker})[0].ID {
		t.Error("a moved due date must give a new id")
	}
}

func TestPlannerReferral(t *testing.T) {
	p := push.Planner{PickupCheckAfter: 72 * time.Hour, UrgentAcceptWithin: 2 * time.Hour}
	r := push.Referral{ID: "ref1", Submitted: utc(6, 20, 0) /* Friday evening */, Referrer: worker,
		Practitioners: []push.Recipient{practA, serviceDev}, Supervisors: []push.Recipient{supervisor}}
	ns := p.ReferralSubmitted(r)
	if len(ns) != 3 {
		t.Fatalf("plan %+v", ns)
	}
	for _, who := range []string{"pracA", "svc1"} {
		h := pick(ns, push.KindHandoff, who)
		if len(h) != 1 || !h[0].NotBefore.Equal(utc(9, 9, 0)) {
			t.Errorf("handoff to %s: %+v, want Monday 09:00", who, h)
		}
	}
	if h := pick(ns, push.KindHandoff, "svc1"); h[0].RecipientKind != push.RecipientService {
		t.Errorf("service handoff kind %q", h[0].RecipientKind)
	}
	// Pick-up check: Monday 20:00, inside the worker's Monday evening.
	if c := pick(ns, push.KindFollowUpDue, "worker1"); len(c) != 1 || !c[0].NotBefore.Equal(utc(9, 20, 0)) || c[0].RecordID != "ref1" {
		t.Errorf("pickup check %+v", c)
	}
	if len(pick(ns, push.KindReferralEscalation, "super1")) != 0 {
		t.Error("non-urgent referral escalates")
	}

	r.Urgent = true
	ns = p.ReferralSubmitted(r)
	if h := pick(ns, push.KindHandoff, "pracA"); !h[0].NotBefore.Equal(r.Submitted) || !h[0].Urgent {
		t.Errorf("urgent handoff %+v, want at once", h)
	}
	esc := pick(ns, push.KindReferralEscalation, "super1")
	if len(esc) != 1 || !esc[0].NotBefore.Equal(utc(6, 22, 0)) || !esc[0].Urgent {
		t.Errorf("urgent escalation %+v, want Friday 22:00 regardless of supervisor hours", esc)
	}
}

func TestPlannerReferralAnswered(t *testing.T) {
	p := push.DefaultPlanner()
	for _, accepted := range []bool{true, false} {
		ns := p.ReferralAnswered(push.Answer{ReferralID: "ref1", At: utc(3, 11, 0), Accepted: accepted, Referrer: worker})
		want := push.KindHandoffDeclined
		if accepted {
			want = push.KindHandoffAccepted
		}
		if n := pick(ns, want, "worker1"); len(n) != 1 || !n[0].NotBefore.Equal(utc(4, 17, 0)) {
			t.Errorf("accepted=%v: answer %+v", accepted, ns)
		}
		if s := pick(ns, push.KindSync, "worker1"); len(s) != 1 || !s[0].NotBefore.Equal(utc(3, 11, 0)) {
			t.Errorf("accepted=%v: sync %+v, want at once", accepted, s)
		}
	}
}
