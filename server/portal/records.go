package portal

import (
	"context"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// str is r.String, short for the many places that read a string field.
func str(r *syncengine.Record, f string) string { return r.String(f) }

// live reports whether a record should be listed: it exists, is not deleted or erased.
func live(r *syncengine.Record) bool {
	return r != nil && r.Type != "" && !r.Deleted() && r.Erased == nil
}

// teamIDs is the team filter for the signed-in person's scope; ok is false
// when the scope holds no teams at all (nothing to list).
func teamIDs(s domain.Scope) (ids []string, ok bool) {
	if s.All {
		return nil, true
	}
	if s.Practitioner() || len(s.Teams) == 0 {
		return nil, false
	}
	return s.Teams, true
}

// recordsKey is where one request keeps the records it loaded, by type: a
// page (the dashboard, search) reads the same types in several panels, and
// decoding every record of a large team is most of a page's time.
const recordsKey = "portal.records"

// recordsInScope lists live records of a type in the person's teams. The
// result is shared within the request: callers must not modify it.
func (p *Portal) recordsInScope(c *fiber.Ctx, typ string) ([]*syncengine.Record, error) {
	cache, _ := c.Locals(recordsKey).(map[string][]*syncengine.Record)
	if rs, ok := cache[typ]; ok {
		return rs, nil
	}
	teams, ok := teamIDs(sess(c).Scope)
	if !ok {
		return nil, nil
	}
	all, err := p.store.Records(c.UserContext(), domain.RecordFilter{Type: typ, TeamIDs: teams})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if live(r) {
			out = append(out, r)
		}
	}
	if cache == nil {
		cache = map[string][]*syncengine.Record{}
		c.Locals(recordsKey, cache)
	}
	cache[typ] = out
	return out, nil
}

// forgetRecords drops the request's loaded records (after an edit).
func forgetRecords(c *fiber.Ctx) { c.Locals(recordsKey, nil) }

// teamRecord loads one record of a type that the signed-in supervisor or
// admin may see, by where the server filed it (domain.Authorize, read), and
// checks they may do verb to it (403 if they may see it but not do that).
// Anything they may not see, including records of other teams, is
// errNotFound: a guessed URL learns nothing.
func (p *Portal) teamRecord(c *fiber.Ctx, typ, id string, verb domain.Verb) (*syncengine.Record, error) {
	return p.teamRecordFor(c, typ, id, func(*syncengine.Record) domain.Action { return domain.Action{Verb: verb} })
}

// teamRecordFor is teamRecord for an action that depends on the record (a
// referral's transition from its current status).
func (p *Portal) teamRecordFor(c *fiber.Ctx, typ, id string, action func(*syncengine.Record) domain.Action) (*syncengine.Record, error) {
	if !syncengine.ValidRecordID(id) {
		return nil, errNotFound
	}
	r, f, err := p.store.FiledRecord(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	s := sess(c).Scope
	// Practitioners see referrals only projected, on the service pages.
	if r == nil || r.Type != typ || s.Practitioner() {
		return nil, errNotFound
	}
	who := domain.ActorOf(s, nil)
	t := domain.Target{Type: typ, Team: f.Team, Service: f.Service, Exists: true, Status: str(r, "status")}
	if domain.Authorize(who, domain.Action{Verb: domain.VerbRead}, t) != nil {
		return nil, errNotFound
	}
	if a := action(r); a.Verb != domain.VerbRead {
		if err := domain.Authorize(who, a, t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// directory holds names for ids, loaded once per request.
type directory struct {
	people   map[string]domain.Person
	services map[string]domain.Service
	teams    map[string]domain.Team
	areas    map[string]domain.Area
}

func (p *Portal) directory(ctx context.Context) (*directory, error) {
	d := &directory{people: map[string]domain.Person{}, services: map[string]domain.Service{}, teams: map[string]domain.Team{}, areas: map[string]domain.Area{}}
	people, err := p.store.People(ctx, domain.PeopleFilter{})
	if err != nil {
		return nil, err
	}
	for _, x := range people {
		d.people[x.ID] = x
	}
	svcs, err := p.store.Services(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range svcs {
		d.services[x.ID] = x
	}
	teams, err := p.store.Teams(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range teams {
		d.teams[x.ID] = x
	}
	areas, err := p.store.Areas(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range areas {
		d.areas[x.ID] = x
	}
	return d, nil
}

func (d *directory) person(id string) string {
	if x, ok := d.people[id]; ok {
		return x.Name
	}
	if id == "" {
		return "unknown"
	}
	return id
}

func (d *directory) service(id string) string {
	if x, ok := d.services[id]; ok {
		return x.Name
	}
	if id == "" {
		return "—"
	}
	return id
}

func (d *directory) team(id string) string {
	if x, ok := d.teams[id]; ok {
		return x.Name
	}
	return id
}

// workersIn lists the people (workers and supervisors) of the scope's teams, by name.
func (d *directory) workersIn(s domain.Scope) []domain.Person {
	var out []domain.Person
	for _, x := range d.people {
		if (x.Role == domain.RoleWorker || x.Role == domain.RoleSupervisor) && s.HasTeam(x.TeamID) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// encounter is an encounter as the lists show it.
type encounter struct {
	ID, Area, TeamID, Team       string
	Started, Ended               time.Time
	Workers, YoungPeople, Topics []string
	Concern                      bool
	ConcernLevel, ReviewStatus   string
	SignedOffBy                  string
	Conflicts                    int
	Contacts                     int64
	Note                         string
	ReviewComment                string
	Deleted                      bool
}

func toEncounter(r *syncengine.Record, d *directory, ypNames map[string]string) encounter {
	e := encounter{ID: string(r.ID), Area: str(r, "area"), TeamID: str(r, "team_id"), Started: r.Time("started_at"), Ended: r.Time("ended_at"),
		Topics: r.Set("topics"), ConcernLevel: domain.ConcernLevel(r), ReviewStatus: str(r, "review_status"),
		Conflicts: len(r.Conflicts()), Note: str(r, "note"), ReviewComment: str(r, "review_comment"), Deleted: r.Deleted()}
	e.Concern = e.ConcernLevel != ""
	e.Team = d.team(e.TeamID)
	if e.SignedOffBy = str(r, "signed_off_by"); e.SignedOffBy != "" {
		e.SignedOffBy = d.person(e.SignedOffBy)
	}
	for _, w := range r.Set("workers") {
		e.Workers = append(e.Workers, d.person(w))
	}
	for _, y := range r.Set("young_people") {
		if n, ok := ypNames[y]; ok {
			e.YoungPeople = append(e.YoungPeople, n)
		}
	}
	for _, n := range r.Counts("tallies") {
		e.Contacts += n
	}
	return e
}

// concernRank orders concern levels for filtering and sorting.
func concernRank(level string) int { return domain.ConcernRank(level) }

// youngPeopleNames maps young person ids in scope to their known-as names.
func (p *Portal) youngPeopleNames(c *fiber.Ctx) (map[string]string, error) {
	yps, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(yps))
	for _, y := range yps {
		out[string(y.ID)] = str(y, "known_as")
	}
	return out, nil
}

// dirNames is the directory and the scope's young people's names, which most
// list pages need together.
func (p *Portal) dirNames(c *fiber.Ctx) (*directory, map[string]string, error) {
	d, err := p.directory(c.UserContext())
	if err != nil {
		return nil, nil, err
	}
	names, err := p.youngPeopleNames(c)
	return d, names, err
}
