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
	e.must(e.s.SetPersonLanguage(e.ctx, "sup_a", ""))
	if got := read(); got != "" {
		t.Fatalf("after clearing: %q", got)
	}
	if err := e.s.SetPersonLanguage(e.ctx, "nobody", "cy"); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("unknown person: %v, want %s", err, domain.ENOTFOUND)
	}
}
