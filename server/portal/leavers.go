package portal

import (
	"slices"
	"sort"
	"time"

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
	r.Post("/referrals/:id/reassign", p.handleReassignReferral)
}

// leftItem is one piece of a leaver's open work, with the team's workers
// who could take it on.
type leftItem struct {
	ID, Kind, Leaver, KnownAs, Team string
	Referral                        bool
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
	refs, err := p.recordsInScope(c, syncengine.TypeReferral)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		who, ok := leaverReferral(r, d, fus)
		if !ok {
			continue
		}
		team := str(r, "team_id")
		out = append(out, leftItem{ID: string(r.ID), Kind: str(r, "status"), Referral: true, Leaver: who.Name,
			KnownAs: names[str(r, "young_person_id")], Team: d.team(team), Candidates: activeWorkersOf(d, team)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Leaver+out[i].ID < out[j].Leaver+out[j].ID })
	return out, nil
}

// leaverReferral: an open referral that only deactivated people ever wrote
// (the record's attribution, Authors) and that no follow-up of an active
// person picks up. Referrals have no owner field, so a new owner is a
// referral_pickup follow-up assigned to them.
func leaverReferral(r *syncengine.Record, d *directory, fus []*syncengine.Record) (domain.Person, bool) {
	if !slices.Contains([]string{"draft", "submitted", "accepted"}, str(r, "status")) || len(r.Authors) == 0 {
		return domain.Person{}, false
	}
	var who domain.Person
	for _, a := range r.Authors {
		x, ok := d.people[a]
		if !ok || x.Deactivated.IsZero() {
			return domain.Person{}, false
		}
		who = x
	}
	for _, f := range fus {
		if str(f, "referral_id") == string(r.ID) {
			if x, ok := d.people[str(f, "assignee")]; ok && x.Deactivated.IsZero() {
				return domain.Person{}, false
			}
		}
	}
	return who, true
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
	r, _, to, err := p.reassignment(c, syncengine.TypeFollowUp)
	if err != nil {
		return err
	}
	id := string(r.ID)
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

// reassignment reads a reassignment request: the record (of type typ,
// visible to the signed-in supervisor, else not found) and the active person
// it goes to, whom the policy must allow as a follow-up's assignee in the
// record's owning team.
func (p *Portal) reassignment(c *fiber.Ctx, typ string) (*syncengine.Record, syncengine.Filing, domain.Person, error) {
	var to domain.Person
	id := c.Params("id")
	if !syncengine.ValidRecordID(id) {
		return nil, syncengine.Filing{}, to, errNotFound
	}
	ctx := c.UserContext()
	r, f, err := p.store.FiledRecord(ctx, id)
	if err != nil {
		return nil, f, to, err
	}
	who := domain.ActorOf(sess(c).Scope, nil)
	if r == nil || !live(r) || r.Type != typ ||
		domain.Authorize(who, domain.Action{Verb: domain.VerbRead}, domain.Target{Type: r.Type, Team: f.Team, Service: f.Service, Exists: true}) != nil {
		return nil, f, to, errNotFound
	}
	to, err = p.store.Person(ctx, c.FormValue("assignee"))
	if domain.ErrorCode(err) == domain.ENOTFOUND || (err == nil && !to.Deactivated.IsZero()) {
		return nil, f, to, invalid("Choose a worker of the team to take this on.")
	} else if err != nil {
		return nil, f, to, err
	}
	toScope, err := p.store.ScopeOf(ctx, to)
	if err != nil {
		return nil, f, to, err
	}
	assignee := domain.ActorOf(toScope, nil)
	err = domain.Authorize(who, domain.Action{Verb: domain.VerbSet, Field: "assignee"},
		domain.Target{Type: domain.TypeFollowUp, Team: f.Team, Exists: typ == domain.TypeFollowUp, Assignee: &assignee})
	return r, f, to, err
}

// handleReassignReferral serves POST /portal/referrals/:id/reassign: a
// leaver's open referral gets a new owner as a referral_pickup follow-up
// assigned to them (referrals have no owner field), created by the server
// replica in the referral's team.
func (p *Portal) handleReassignReferral(c *fiber.Ctx) error {
	r, f, to, err := p.reassignment(c, syncengine.TypeReferral)
	if err != nil {
		return err
	}
	if err := domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbCreate},
		domain.Target{Type: domain.TypeFollowUp, Team: f.Team}); err != nil {
		return err
	}
	var fu syncengine.RecordID
	if err := p.edit(c, func(tx *syncengine.Txn) (err error) {
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"team_id", f.Team}, {"referral_id", string(r.ID)}, {"young_person_id", str(r, "young_person_id")},
			{"assignee", to.ID}, {"status", "open"}, {"kind", "referral_pickup"},
			{"due_at", p.now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}} {
			if err := tx.Set(fu, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionEdit, string(r.ID), map[string]any{"type": "referral", "new_owner": to.ID, "follow_up": string(fu)}); err != nil {
		return err
	}
	return p.redirect(c, "/dashboard?done=reassigned")
}

func init() {
	flashMessages["reassigned"] = "The work has a new owner."
}
