package portal

import (
	"sort"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// A leaver's open work: follow-ups still assigned to a deactivated person
// stay on their team supervisors' dashboard until someone reassigns them.
// Nothing new is stored: the records and people.deactivated say it all, so
// the flag lasts exactly as long as the work is open and unowned.

func registerLeaverRoutes(r routes, p *Portal) {
	r.Post("/follow-ups/:id/reassign", p.handleReassignFollowUp)
}

// leftItem is one piece of a leaver's open work, with the team's workers
// who could take it on.
type leftItem struct {
	ID, Kind, Leaver, KnownAs, Team string
	Candidates                      []domain.Person
}

// dashLeftWork lists the open follow-ups in the viewer's teams whose
// assignee has been deactivated.
func (p *Portal) dashLeftWork(c *fiber.Ctx, d *directory, names map[string]string) ([]leftItem, error) {
	fus, err := p.recordsInScope(c, syncengine.TypeFollowUp)
	if err != nil {
		return nil, err
	}
	var out []leftItem
	for _, r := range fus {
		who, ok := d.people[str(r, "assignee")]
		if !ok || who.Deactivated.IsZero() || str(r, "status") != "open" {
			continue
		}
		team := str(r, "team_id")
		out = append(out, leftItem{ID: string(r.ID), Kind: str(r, "kind"), Leaver: who.Name, KnownAs: names[str(r, "young_person_id")],
			Team: d.team(team), Candidates: activeWorkersOf(d, team)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Leaver+out[i].ID < out[j].Leaver+out[j].ID })
	return out, nil
}

func activeWorkersOf(d *directory, team string) []domain.Person {
	var out []domain.Person
	for _, x := range d.people {
		if x.TeamID == team && x.Deactivated.IsZero() && (x.Role == domain.RoleWorker || x.Role == domain.RoleSupervisor) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// handleReassignFollowUp serves POST /portal/follow-ups/:id/reassign: a
// supervisor gives a follow-up to a worker of its owning team. The policy
// decides, with the server's view of the record's team and of the new
// assignee; the change is the server replica's own edit, so phones pull it.
func (p *Portal) handleReassignFollowUp(c *fiber.Ctx) error {
	id := c.Params("id")
	if !syncengine.ValidRecordID(id) {
		return errNotFound
	}
	ctx := c.UserContext()
	r, f, err := p.store.FiledRecord(ctx, id)
	if err != nil {
		return err
	}
	s := sess(c).Scope
	who := domain.ActorOf(s, nil)
	if r == nil || !live(r) || r.Type != syncengine.TypeFollowUp ||
		domain.Authorize(who, domain.Action{Verb: domain.VerbRead}, domain.Target{Type: r.Type, Team: f.Team, Exists: true}) != nil {
		return errNotFound
	}
	to, err := p.store.Person(ctx, c.FormValue("assignee"))
	if domain.ErrorCode(err) == domain.ENOTFOUND || (err == nil && !to.Deactivated.IsZero()) {
		return invalid("Choose a worker of the team to take this on.")
	} else if err != nil {
		return err
	}
	toScope, err := p.store.ScopeOf(ctx, to)
	if err != nil {
		return err
	}
	assignee := domain.ActorOf(toScope, nil)
	if err := domain.Authorize(who, domain.Action{Verb: domain.VerbSet, Field: "assignee"},
		domain.Target{Type: r.Type, Team: f.Team, Exists: true, Assignee: &assignee}); err != nil {
		return err
	}
	from := str(r, "assignee")
	if from != to.ID {
		if err := p.edit(c, func(tx *syncengine.Txn) error { return tx.Set(r.ID, "assignee", to.ID) }); err != nil {
			return err
		}
	}
	if err := p.audit(c, domain.ActionEdit, id, map[string]any{"type": "follow_up", "changed": []string{"assignee"},
		"from": from, "to": to.ID}); err != nil {
		return err
	}
	return p.redirect(c, "/dashboard?done=reassigned")
}

func init() {
	flashMessages["reassigned"] = "The follow-up has a new owner."
}
