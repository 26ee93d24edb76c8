package portal

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerAuditRoutes(r routes, p *Portal) {
	r.Get("/audit", p.handleAudit)
}

var auditActions = []string{domain.ActionRead, domain.ActionWrite, domain.ActionShare, domain.ActionExport, domain.ActionErase,
	domain.ActionRevoke, domain.ActionEnrol, domain.ActionLogin, domain.ActionIssue, domain.ActionRefused, domain.ActionQuar,
	domain.ActionReview, domain.ActionBackup, domain.ActionEdit, "wiped", "sync", domain.ActionPurged, domain.ActionRetain,
	domain.ActionHold, domain.ActionSettings}

type auditRow struct {
	domain.AuditEntry
	Person, DetailText string
}

// handleAudit serves GET /portal/audit?person=&action=&record=&from=&to=&before=.
// Admins see everything; supervisors see entries by people of their teams.
func (p *Portal) handleAudit(c *fiber.Ctx) error {
	f := domain.AuditFilter{PersonID: c.Query("person"), Action: c.Query("action"), RecordID: c.Query("record"), Limit: 200}
	if v := c.Query("from"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, p.loc)
		if err != nil {
			return invalid("The 'from' date must look like 2025-10-20.")
		}
		f.Since = t
	}
	if v := c.Query("to"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, p.loc)
		if err != nil {
			return invalid("The 'to' date must look like 2025-10-20.")
		}
		f.Until = t.AddDate(0, 0, 1)
	}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return invalid("Bad page.")
		}
		f.BeforeID = n
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	s := sess(c)
	if !s.Scope.All {
		f.Limit = 1000 // filtered below to the supervisor's teams
	}
	entries, err := p.store.Audit(c.UserContext(), f)
	if err != nil {
		return err
	}
	var rows []auditRow
	var last int64
	for _, e := range entries {
		last = e.ID
		if !s.Scope.All {
			person, ok := d.people[e.PersonID]
			if !ok || !s.Scope.HasTeam(person.TeamID) {
				continue
			}
		}
		b, _ := json.Marshal(e.Detail)
		rows = append(rows, auditRow{AuditEntry: e, Person: d.person(e.PersonID), DetailText: string(b)})
		if len(rows) == 200 {
			break
		}
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "audit", "shown": len(rows)}); err != nil {
		return err
	}
	people := make([]domain.Person, 0, len(d.people))
	for _, x := range d.people {
		if s.Scope.All || s.Scope.HasTeam(x.TeamID) {
			people = append(people, x)
		}
	}
	sort.Slice(people, func(i, j int) bool { return people[i].Name < people[j].Name })
	next := int64(0)
	if len(entries) == f.Limit && last > 0 {
		next = last
	}
	return p.render(c, "audit", "Audit log", map[string]any{"Rows": rows, "Actions": auditActions, "People": people,
		"Person": f.PersonID, "Action": f.Action, "Record": f.RecordID, "From": c.Query("from"), "To": c.Query("to"), "Next": next})
}

type quarantineRow struct {
	domain.QuarantineItem
	Person string
}

// handleQuarantine serves GET /portal/quarantine: refused changesets awaiting
// review that the reviewer may decide now.
func (p *Portal) handleQuarantine(c *fiber.Ctx) error {
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	rows, err := p.quarantineInScope(c, d, 200)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "quarantine", "shown": len(rows)}); err != nil {
		return err
	}
	return p.render(c, "quarantine", "Quarantine", map[string]any{"Rows": rows})
}

// quarantineInScope lists the open items the signed-in reviewer may review
// (the store applies the same rule as the API).
func (p *Portal) quarantineInScope(c *fiber.Ctx, d *directory, limit int) ([]quarantineRow, error) {
	s := sess(c).Scope
	items, err := p.store.Quarantine(c.UserContext(), domain.QuarantineFilter{Open: true, Limit: limit, Reviewer: &s})
	if err != nil {
		return nil, err
	}
	out := make([]quarantineRow, 0, len(items))
	for _, q := range items {
		out = append(out, quarantineRow{QuarantineItem: q, Person: d.person(q.PersonID)})
	}
	return out, nil
}

func quarantineID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return 0, errNotFound
	}
	return id, nil
}

// handleQuarantineItem serves GET /portal/quarantine/:id: what releasing the
// item would change, record by record.
func (p *Portal) handleQuarantineItem(c *fiber.Ctx) error {
	id, err := quarantineID(c)
	if err != nil {
		return err
	}
	item, err := p.store.QuarantineItem(c.UserContext(), id, sess(c).Person)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "quarantine_item", "quarantine_id": id}); err != nil {
		return err
	}
	return p.render(c, "quarantineitem", "Quarantined change", map[string]any{"Item": item, "Person": d.person(item.PersonID)})
}

// handleQuarantineReview serves POST /portal/quarantine/:id (release or discard).
func (p *Portal) handleQuarantineReview(c *fiber.Ctx) error {
	id, err := quarantineID(c)
	if err != nil {
		return err
	}
	res := c.FormValue("resolution")
	if res != domain.ResolutionRelease && res != domain.ResolutionDiscard {
		return invalid("Choose release or discard.")
	}
	if err := p.store.ReviewQuarantine(c.UserContext(), id, sess(c).Person, res); err != nil {
		switch syncengine.ErrorCode(err) {
		case domain.EINVALID, domain.EMISSINGDEP, domain.EFORBIDDEN:
			return invalid("It cannot be released: %s", p.errText(c, err))
		}
		return err
	}
	return p.redirect(c, "/quarantine?done="+res)
}
