package storetest

import (
	"testing"

	"github.com/joinedup/joinedup/server/domain"
)

// testPersonLanguage: a person's language choice is kept, survives an admin
// editing their record (UpsertPerson does not carry it), and can be cleared.
func testPersonLanguage(t *testing.T, e *env) {
	read := func() string {
		t.Helper()
		p, err := e.s.Person(e.ctx, "sup_a")
		e.must(err)
		return p.Lang
	}
	if got := read(); got != "" {
		t.Fatalf("a new person's language is %q, want none chosen", got)
	}
	e.must(e.s.SetPersonLanguage(e.ctx, "sup_a", "cy"))
	if got := read(); got != "cy" {
		t.Fatalf("after choosing Welsh: %q", got)
	}
	p, err := e.s.Person(e.ctx, "sup_a")
	e.must(err)
	p.Name = "Alex Goruchwyliwr"
	p.Lang = "" // an admin's form does not carry the choice
	e.must(e.s.UpsertPerson(e.ctx, p))
	if got := read(); got != "cy" {
		t.Fatalf("an admin's edit changed the person's language to %q", got)
	}
	if ps, err := e.s.People(e.ctx, domain.PeopleFilter{TeamID: "team_a", Role: domain.RoleSupervisor}); err != nil || len(ps) != 1 || ps[0].Lang != "cy" {
		t.Fatalf("People: %+v, %v; want the supervisor with cy", ps, err)
	}
	// Their phone's notifications are in their language; a service's
	// shared phone and a person who chose none get English ("").
	e.must(e.h.Tokens.RegisterToken(e.ctx, "dev_s", "sup_a", "tok-s", "android"))
	e.must(e.h.Tokens.RegisterToken(e.ctx, "dev_w", "w_a", "tok-w", "android"))
	e.must(e.h.Tokens.RegisterToken(e.ctx, "dev_h", "svc_housing", "tok-h", "android"))
	toSup, toWorker, toService := note("l1", "sup_a"), note("l2", "w_a"), note("l3", "svc_housing")
	toService.RecipientKind = domain.RecipientService
	tg, err := e.h.Outbox.Targets(e.ctx, []domain.Claimed{{Notification: toSup, Attempts: 1}, {Notification: toWorker, Attempts: 1},
		{Notification: toService, Attempts: 1}})
	e.must(err)
	if tg["l1"].Lang != "cy" || tg["l2"].Lang != "" || tg["l3"].Lang != "" {
		t.Fatalf("target languages: %+v", tg)
	}
	e.must(e.s.SetPersonLanguage(e.ctx, "sup_a", ""))
	if got := read(); got != "" {
		t.Fatalf("after clearing: %q", got)
	}
	if err := e.s.SetPersonLanguage(e.ctx, "nobody", "cy"); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("unknown person: %v, want %s", err, domain.ENOTFOUND)
	}
}
