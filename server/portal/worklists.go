package portal

import (
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerWorkListRoutes(r routes, p *Portal) {
	r.Get("/follow-ups", p.handleFollowUpList)
	r.Get("/caseload", p.handleCaseload)
	r.Get("/conflicts", p.handleConflictList)
}

// handleConflictList serves GET /portal/conflicts: every record in scope with
// fields to resolve (the dashboard shows the first 15), paged.
func (p *Portal) handleConflictList(c *fiber.Ctx) error {
	d, names, err := p.dirNames(c)
	if err != nil {
		return err
	}
	var db dashboard
	if err := gather(c, d, names, p.dashWindow(), &db, p.dashEncounters, p.dashReferrals, p.dashYoungPeople); err != nil {
		return err
	}
	pg, err := parsePage(c, len(db.conflicts))
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "conflicts", "shown": pg.shown()}); err != nil {
		return err
	}
	return p.render(c, "conflicts", "Conflicts to resolve", map[string]any{"Rows": db.conflicts[pg.From:pg.To], "Page": pg})
}

// Follow-up windows, in the portal's time zone.
var followUpWindows = []struct{ Value, Label string }{
	{"overdue", "Overdue"}, {"today", "Due today"}, {"week", "Due this week"}, {"open", "All open"},
}

// followUpFilter is the work list's query, parsed and validated once.
type followUpFilter struct {
	When, Worker string
}

func parseFollowUpFilter(c *fiber.Ctx) (followUpFilter, error) {
	f := followUpFilter{When: c.Query("when", "overdue"), Worker: c.Query("worker")}
	for _, w := range followUpWindows {
		if w.Value == f.When {
			if f.Worker != "" && !syncengine.ValidRecordID(f.Worker) {
				return f, invalid("Unknown worker.")
			}
			return f, nil
		}
	}
	return f, invalid("Unknown follow-up window: choose overdue, today, week or open.")
}

// in reports whether an open follow-up due at due falls in the window.
func (f followUpFilter) in(due time.Time, w dashWindow) bool {
	switch f.When {
	case "overdue":
		return due.Before(w.now)
	case "today":
		return !due.Before(w.today) && due.Before(w.today.AddDate(0, 0, 1))
	case "week":
		return !due.Before(w.weekStart) && due.Before(w.weekEnd)
	}
	return true
}

// openFollowUps lists the open follow-ups in scope with a readable due time.
func (p *Portal) openFollowUps(c *fiber.Ctx, d *directory, names map[string]string, w dashWindow) ([]followUpRow, error) {
	fus, err := p.recordsInScope(c, syncengine.TypeFollowUp)
	if err != nil {
		return nil, err
	}
	var out []followUpRow
	for _, r := range fus {
		due := r.Time("due_at")
		if str(r, "status") != "open" || due.IsZero() {
			continue
		}
		yp := str(r, "young_person_id")
		row := followUpRow{ID: string(r.ID), YoungPersonID: yp, KnownAs: names[yp], AssigneeID: str(r, "assignee"),
			Assignee: d.person(str(r, "assignee")), Kind: str(r, "kind"), Due: due}
		if due.Before(w.now) {
			row.Overdue = w.now.Sub(due)
		}
		out = append(out, row)
	}
	return out, nil
}

// handleFollowUpList serves GET /portal/follow-ups: who needs a follow-up,
// by window (overdue, today, this week, all open) and worker, complete and paged.
func (p *Portal) handleFollowUpList(c *fiber.Ctx) error {
	f, err := parseFollowUpFilter(c)
	if err != nil {
		return err
	}
	d, names, err := p.dirNames(c)
	if err != nil {
		return err
	}
	w := p.dashWindow()
	all, err := p.openFollowUps(c, d, names, w)
	if err != nil {
		return err
	}
	var rows []followUpRow
	for _, r := range all {
		if f.in(r.Due, w) && (f.Worker == "" || r.AssigneeID == f.Worker) {
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Due.Before(rows[j].Due) })
	pg, err := parsePage(c, len(rows))
	if err != nil {
		return err
	}
	rows = rows[pg.From:pg.To]
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "follow-ups", "when": f.When, "shown": len(rows)}); err != nil {
		return err
	}
	return p.render(c, "followups", "Follow-ups", map[string]any{"Rows": rows, "Page": pg, "Filter": f,
		"Windows": followUpWindows, "Workers": d.workersIn(sess(c).Scope)})
}

// caseloadRow is one worker's load.
type caseloadRow struct {
	ID, Name, Team                          string
	YoungPeople, Open, Overdue, Today, Week int
}

// handleCaseload serves GET /portal/caseload: per worker, the young people
// they are key worker for and their open follow-ups by window, with the team's
// totals; every number links to its list.
func (p *Portal) handleCaseload(c *fiber.Ctx) error {
	d, names, err := p.dirNames(c)
	if err != nil {
		return err
	}
	s := sess(c)
	w := p.dashWindow()
	fus, err := p.openFollowUps(c, d, names, w)
	if err != nil {
		return err
	}
	yps, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return err
	}
	rows := map[string]*caseloadRow{}
	var order []string
	for _, x := range d.workersIn(s.Scope) {
		rows[x.ID] = &caseloadRow{ID: x.ID, Name: x.Name, Team: d.team(x.TeamID)}
		order = append(order, x.ID)
	}
	var total caseloadRow
	row := func(id string) *caseloadRow {
		if r, ok := rows[id]; ok {
			return r
		}
		return &caseloadRow{} // someone outside the scope's teams: counted in the totals only
	}
	for _, y := range yps {
		if kw := str(y, "key_worker"); kw != "" {
			row(kw).YoungPeople++
			total.YoungPeople++
		}
	}
	windows := map[string]followUpFilter{"overdue": {When: "overdue"}, "today": {When: "today"}, "week": {When: "week"}}
	for _, fu := range fus {
		r := row(fu.AssigneeID)
		r.Open++
		total.Open++
		if windows["overdue"].in(fu.Due, w) {
			r.Overdue++
			total.Overdue++
		}
		if windows["today"].in(fu.Due, w) {
			r.Today++
			total.Today++
		}
		if windows["week"].in(fu.Due, w) {
			r.Week++
			total.Week++
		}
	}
	out := make([]caseloadRow, 0, len(order))
	for _, id := range order {
		out = append(out, *rows[id])
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "caseload"}); err != nil {
		return err
	}
	return p.render(c, "caseload", "Caseload", map[string]any{"Rows": out, "Total": total})
}
