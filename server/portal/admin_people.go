package portal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// Admin pages: people, teams and services. Every handler asks the one
// policy (domain.Authorize, VerbAdminister on the organisation) besides the
// route's role guard, so the rule lives in the policy table.
func registerAdminRoutes(r routes, p *Portal) {
	r.Get("/admin/people", p.handleAdminPeople)
	registerImportRoutes(r, p) // before /admin/people/:id
	r.Get("/admin/people/new", p.handleAdminPersonForm)
	r.Post("/admin/people/new", p.handleAdminPersonSave)
	r.Get("/admin/people/:id", p.handleAdminPersonForm)
	r.Post("/admin/people/:id", p.handleAdminPersonSave)
	r.Post("/admin/people/:id/deactivate", p.handleAdminDeactivate)
	r.Post("/admin/people/:id/password-link", p.handleAdminPasswordLink)
	r.Post("/admin/people/:id/unlock", p.handleAdminUnlock)
	r.Post("/admin/people/:id/reset-two-factor", p.handleAdminResetTwoFactor)
	r.Post("/admin/people/:id/sessions/end", p.handleAdminEndSessions)
	r.Get("/admin/teams", p.handleAdminTeams)
	r.Post("/admin/teams", p.handleAdminTeamSave)
	r.Get("/admin/services/new", p.handleAdminServiceForm)
	r.Post("/admin/services/new", p.handleAdminServiceSave)
}

func (p *Portal) administer(c *fiber.Ctx) error {
	return domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbAdminister},
		domain.Target{Type: domain.TypeOrganisation})
}

func (p *Portal) org(c *fiber.Ctx) (domain.Org, []domain.Area, error) {
	ctx := c.UserContext()
	var o domain.Org
	var err error
	if o.Teams, err = p.store.Teams(ctx); err != nil {
		return o, nil, err
	}
	if o.Services, err = p.store.Services(ctx); err != nil {
		return o, nil, err
	}
	if o.People, err = p.store.People(ctx, domain.PeopleFilter{}); err != nil {
		return o, nil, err
	}
	areas, err := p.store.Areas(ctx)
	return o, areas, err
}

func newID(prefix string) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + hex.EncodeToString(b)
}

// formValues is every value of a repeated form field (checkboxes).
func formValues(c *fiber.Ctx, key string) []string {
	if form, err := c.MultipartForm(); err == nil {
		return form.Value[key]
	}
	var out []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == key {
			out = append(out, string(v))
		}
	})
	return out
}

// weekRow is one day of the weekly hours editor: up to two windows.
type weekRow struct {
	Day     time.Weekday
	Windows [2][2]string // start, end
}

var weekOrder = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// weekGrid lays stored hours out for the editor.
func weekGrid(raw json.RawMessage) []weekRow {
	var hs []domain.WorkingHours
	_ = json.Unmarshal(raw, &hs) // '{}' (no hours) leaves the grid empty
	rows := make([]weekRow, len(weekOrder))
	for i, d := range weekOrder {
		rows[i].Day = d
		n := 0
		for _, h := range hs {
			if h.Weekday == d && n < 2 {
				rows[i].Windows[n] = [2]string{h.Start, h.End}
				n++
			}
		}
	}
	return rows
}

// parseWeek reads the weekly editor's fields (hours-D-N-start/end) into
// stored hours; validation is domain.ValidateHours's.
func parseWeek(c *fiber.Ctx) (json.RawMessage, []weekRow) {
	var hs []domain.WorkingHours
	rows := make([]weekRow, len(weekOrder))
	for i, d := range weekOrder {
		rows[i].Day = d
		for n := 0; n < 2; n++ {
			s := strings.TrimSpace(c.FormValue(fmt.Sprintf("hours-%d-%d-start", d, n)))
			e := strings.TrimSpace(c.FormValue(fmt.Sprintf("hours-%d-%d-end", d, n)))
			rows[i].Windows[n] = [2]string{s, e}
			if s != "" || e != "" {
				hs = append(hs, domain.WorkingHours{Weekday: d, Start: s, End: e})
			}
		}
	}
	if len(hs) == 0 {
		return json.RawMessage(`{}`), rows
	}
	raw, _ := json.Marshal(hs)
	return raw, rows
}

// handleAdminPeople serves GET /portal/admin/people.
func (p *Portal) handleAdminPeople(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	o, _, err := p.org(c)
	if err != nil {
		return err
	}
	return p.render(c, "admin_people", "People", map[string]any{"People": o.People, "Teams": o.Teams})
}

// handleAdminPersonForm serves GET /portal/admin/people/new and /:id.
func (p *Portal) handleAdminPersonForm(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	var person domain.Person
	if id := c.Params("id"); id != "" {
		var err error
		if person, err = p.store.Person(c.UserContext(), id); domain.ErrorCode(err) == domain.ENOTFOUND {
			return errNotFound
		} else if err != nil {
			return err
		}
	} else {
		person = domain.Person{Role: domain.RoleWorker, TZ: p.cfg.TimeZone}
	}
	return p.personPage(c, fiber.StatusOK, person, weekGrid(person.Hours), "", nil)
}

func (p *Portal) personPage(c *fiber.Ctx, status int, person domain.Person, week []weekRow, msg string, extra map[string]any) error {
	o, _, err := p.org(c)
	if err != nil {
		return err
	}
	data := map[string]any{"P": person, "Week": week, "Error": msg, "Teams": o.Teams, "Services": o.Services,
		"Roles": []string{domain.RoleWorker, domain.RoleSupervisor, domain.RolePractitioner, domain.RoleAdmin}}
	if person.ID != "" {
		if data["Sessions"], err = p.sessionRows(c, person.ID); err != nil {
			return err
		}
	}
	for k, v := range extra {
		data[k] = v
	}
	c.Status(status)
	if person.ID != "" {
		return p.render(c, "admin_person", "%s", data, person.Name)
	}
	return p.render(c, "admin_person", "New person", data)
}

// handleAdminPersonSave serves POST /portal/admin/people/new and /:id: bad
// input is shown on the form and nothing is saved.
func (p *Portal) handleAdminPersonSave(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	ctx := c.UserContext()
	person := domain.Person{ID: c.Params("id")}
	isNew := person.ID == ""
	if !isNew {
		old, err := p.store.Person(ctx, person.ID)
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return errNotFound
		} else if err != nil {
			return err
		}
		if !old.Deactivated.IsZero() {
			return domain.Errorf(domain.ECONFLICT, "edit person", "%s has been deactivated and cannot be edited", old.Name)
		}
		person = old
	}
	person.Name = strings.TrimSpace(c.FormValue("name"))
	person.Email = strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	person.Role = c.FormValue("role")
	person.TeamID = c.FormValue("team_id")
	person.ServiceID = c.FormValue("service_id")
	person.TZ = strings.TrimSpace(c.FormValue("tz"))
	person.SafeguardingLead = c.FormValue("safeguarding_lead") != ""
	person.Supervises = formValues(c, "supervises")
	if person.Supervises == nil {
		person.Supervises = []string{} // non-nil: clear what was there
	}
	sort.Strings(person.Supervises)
	person.Supervises = slices.Compact(person.Supervises)
	var week []weekRow
	person.Hours, week = parseWeek(c)
	if isNew {
		person.ID = newID("p_")
	}
	o, _, err := p.org(c)
	if err != nil {
		return err
	}
	if err := domain.ValidatePerson(person, o); err == nil {
		err = p.store.UpsertPerson(ctx, person)
		if isFormError(err) {
			return p.refusePerson(c, person, isNew, week, err)
		} else if err != nil {
			return err
		}
	} else if isFormError(err) {
		return p.refusePerson(c, person, isNew, week, err)
	} else {
		return err
	}
	if err := p.audit(c, domain.ActionEdit, person.ID, map[string]any{"type": "person", "created": isNew, "role": person.Role, "safeguarding_lead": person.SafeguardingLead}); err != nil {
		return err
	}
	if isNew && person.Email != "" {
		return p.showPasswordLink(c, person, domain.PasswordSet)
	}
	return p.redirect(c, "/admin/people/"+person.ID+"?done=saved")
}

func (p *Portal) refusePerson(c *fiber.Ctx, person domain.Person, isNew bool, week []weekRow, err error) error {
	if isNew {
		person.ID = ""
	}
	return p.personPage(c, fiber.StatusUnprocessableEntity, person, week, p.errText(c, err), nil)
}

func (p *Portal) adminTarget(c *fiber.Ctx) (domain.Person, error) {
	if err := p.administer(c); err != nil {
		return domain.Person{}, err
	}
	person, err := p.store.Person(c.UserContext(), c.Params("id"))
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return person, errNotFound
	}
	return person, err
}

// showPasswordLink issues a one-time link and shows it once to the admin,
// to pass on by a channel they trust (no e-mail server is needed).
func (p *Portal) showPasswordLink(c *fiber.Ctx, person domain.Person, purpose string) error {
	tok, expires, err := p.signin.IssueLink(c.UserContext(), p.store, person.ID, purpose, sess(c).Person.ID)
	if err != nil {
		return err
	}
	return p.render(c, "admin_link", "Password link", map[string]any{"P": person, "Purpose": purpose, "Expires": expires,
		"Link": p.publicURL(c) + p.cfg.Prefix + "/set-password?token=" + tok})
}

// publicURL is the server's address as staff reach it.
func (p *Portal) publicURL(c *fiber.Ctx) string {
	if p.cfg.PublicURL != "" {
		return strings.TrimRight(p.cfg.PublicURL, "/")
	}
	return c.BaseURL()
}

// handleAdminPasswordLink serves POST /portal/admin/people/:id/password-link.
func (p *Portal) handleAdminPasswordLink(c *fiber.Ctx) error {
	person, err := p.adminTarget(c)
	if err != nil {
		return err
	}
	purpose := domain.PasswordReset
	if person.PasswordHash == "" {
		purpose = domain.PasswordSet
	}
	return p.showPasswordLink(c, person, purpose)
}

// handleAdminUnlock serves POST /portal/admin/people/:id/unlock: forget
// the account's failed sign-ins, from every address.
func (p *Portal) handleAdminUnlock(c *fiber.Ctx) error {
	person, err := p.adminTarget(c)
	if err != nil {
		return err
	}
	if err := p.store.ClearSignInFailures(c.UserContext(), signin.AccountKey(person.Email), person.ID, sess(c).Person.ID); err != nil {
		return err
	}
	return p.redirect(c, "/admin/people/"+person.ID+"?done=unlocked")
}

// handleAdminEndSessions serves POST /portal/admin/people/:id/sessions/end
// (one session by id, or all=1).
func (p *Portal) handleAdminEndSessions(c *fiber.Ctx) error {
	person, err := p.adminTarget(c)
	if err != nil {
		return err
	}
	var only []byte
	if c.FormValue("all") != "1" {
		if only, err = p.sessionByID(c, person.ID, c.FormValue("id")); err != nil {
			return err
		}
	}
	if _, err := p.store.EndSessions(c.UserContext(), person.ID, only, nil, sess(c).Person.ID); err != nil {
		return err
	}
	return p.redirect(c, "/admin/people/"+person.ID+"?done=sessions-ended")
}

// handleAdminDeactivate serves POST /portal/admin/people/:id/deactivate: a
// leaver's devices are revoked and told to wipe, their sessions end, and
// their open follow-ups are listed for their supervisor, in one transaction.
func (p *Portal) handleAdminDeactivate(c *fiber.Ctx) error {
	person, err := p.adminTarget(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != person.ID {
		return p.personPage(c, fiber.StatusUnprocessableEntity, person, weekGrid(person.Hours),
			"Tick the box to confirm you mean to deactivate "+person.Name+".", nil)
	}
	d, err := p.store.DeactivatePerson(c.UserContext(), person.ID, sess(c).Person.ID)
	if isFormError(err) {
		return p.personPage(c, fiber.StatusUnprocessableEntity, person, weekGrid(person.Hours), p.errText(c, err), nil)
	} else if err != nil {
		return err
	}
	var sup domain.Person
	if d.Supervisor != "" {
		if sup, err = p.store.Person(c.UserContext(), d.Supervisor); err != nil {
			return err
		}
	}
	return p.render(c, "admin_deactivated", "Deactivated", map[string]any{"P": person, "D": d, "Supervisor": sup})
}

// handleAdminTeams serves GET /portal/admin/teams.
func (p *Portal) handleAdminTeams(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	return p.teamsPage(c, fiber.StatusOK, "", domain.Team{})
}

func (p *Portal) teamsPage(c *fiber.Ctx, status int, msg string, form domain.Team) error {
	o, areas, err := p.org(c)
	if err != nil {
		return err
	}
	c.Status(status)
	return p.render(c, "admin_teams", "Teams", map[string]any{"Teams": o.Teams, "Areas": areas, "People": o.People,
		"Error": msg, "Form": form, "AreaName": c.FormValue("area_name")})
}

// handleAdminTeamSave serves POST /portal/admin/teams: a new team, in an
// existing area or one named on the form.
func (p *Portal) handleAdminTeamSave(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	ctx := c.UserContext()
	t := domain.Team{ID: newID("t_"), Name: strings.TrimSpace(c.FormValue("name")), AreaID: c.FormValue("area_id")}
	o, areas, err := p.org(c)
	if err != nil {
		return err
	}
	var newArea *domain.Area
	if name := strings.TrimSpace(c.FormValue("area_name")); t.AreaID == "" && name != "" {
		newArea = &domain.Area{ID: newID("a_"), Name: name}
		t.AreaID = newArea.ID
		areas = append(areas, *newArea)
	}
	if err := domain.ValidateTeam(t, areas, o); isFormError(err) {
		return p.teamsPage(c, fiber.StatusUnprocessableEntity, p.errText(c, err), t)
	} else if err != nil {
		return err
	}
	if newArea != nil {
		if err := p.store.UpsertArea(ctx, *newArea); err != nil {
			return err
		}
	}
	if err := p.store.UpsertTeam(ctx, t); err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionEdit, t.ID, map[string]any{"type": "team", "created": true}); err != nil {
		return err
	}
	return p.redirect(c, "/admin/teams?done=team-created")
}

// handleAdminServiceForm serves GET /portal/admin/services/new.
func (p *Portal) handleAdminServiceForm(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	return p.servicePage(c, fiber.StatusOK, domain.Service{TZ: p.cfg.TimeZone, Kind: "housing"}, weekGrid(nil), "")
}

func (p *Portal) servicePage(c *fiber.Ctx, status int, s domain.Service, week []weekRow, msg string) error {
	c.Status(status)
	return p.render(c, "admin_service", "New service", map[string]any{"S": s, "Form": s, "Week": week, "Error": msg,
		"Fields": domain.SharableFields(), "Kinds": serviceKinds})
}

var serviceKinds = []string{"housing", "camhs", "mental_health", "sexual_health", "social_care", "school_attendance", "youth_justice", "food_bank", "family_hub"}

// handleAdminServiceSave serves POST /portal/admin/services/new: a service
// with its data-sharing agreement (checkboxes of the schema's fields) and
// weekly hours.
func (p *Portal) handleAdminServiceSave(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	s := domain.Service{ID: newID("svc_"), Name: strings.TrimSpace(c.FormValue("name")), Kind: c.FormValue("kind"),
		Contact: strings.TrimSpace(c.FormValue("contact")), Pathway: strings.TrimSpace(c.FormValue("pathway")),
		TZ: strings.TrimSpace(c.FormValue("tz")), SharedFields: formValues(c, "shared")}
	var week []weekRow
	s.Hours, week = parseWeek(c)
	err := domain.ValidateService(s)
	if err == nil && !slices.Contains(serviceKinds, s.Kind) {
		err = domain.Errorf(domain.EINVALID, "validate kind", "choose the kind of service")
	}
	if isFormError(err) {
		return p.servicePage(c, fiber.StatusUnprocessableEntity, s, week, p.errText(c, err))
	} else if err != nil {
		return err
	}
	sort.Strings(s.SharedFields)
	if err := p.store.UpsertService(c.UserContext(), s); err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionEdit, s.ID, map[string]any{"type": "service", "created": true, "shared_after": s.SharedFields}); err != nil {
		return err
	}
	return p.redirect(c, "/services/"+s.ID+"?done=service-created")
}
