package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

// People is what the admin API's people routes need from the store.
type People interface {
	People(ctx context.Context, f domain.PeopleFilter) ([]domain.Person, error)
	Teams(ctx context.Context) ([]domain.Team, error)
	Services(ctx context.Context) ([]domain.Service, error)
	UpsertPerson(ctx context.Context, p domain.Person) error
	DeactivatePerson(ctx context.Context, personID, by string) (domain.Deactivation, error)
	AppendAudit(ctx context.Context, e domain.AuditEntry) error
	signin.LinkStore
}

// registerPeopleRoutes: the admin API's staff administration, for scripts
// (the portal's People pages do the same through the same rules).
func registerPeopleRoutes(s *Server, a fiber.Router) {
	a.Get("/people", s.handleListPeople)
	a.Post("/people", s.handleCreatePerson)
	a.Post("/people/:id/deactivate", s.handleDeactivatePerson)
}

// administer asks the one policy whether the signed-in staff member may
// administer the organisation.
func (s *Server) administer(c *fiber.Ctx) error {
	scope, err := s.Store.ScopeOf(c.UserContext(), staff(c))
	if err != nil {
		return err
	}
	return domain.Authorize(domain.ActorOf(scope, nil), domain.Action{Verb: domain.VerbAdminister}, domain.Target{Type: domain.TypeOrganisation})
}

// handleListPeople serves GET /v1/admin/people.
func (s *Server) handleListPeople(c *fiber.Ctx) error {
	if err := s.administer(c); err != nil {
		return err
	}
	ps, err := s.Store.People(c.UserContext(), domain.PeopleFilter{Role: c.Query("role"), TeamID: c.Query("team_id")})
	if err != nil {
		return err
	}
	return c.JSON(map[string]any{"people": ps})
}

type createPersonRequest struct {
	Name       string          `json:"name" validate:"required,max=120"`
	Email      string          `json:"email" validate:"omitempty,email,max=254"`
	Role       string          `json:"role" validate:"required,oneof=worker supervisor practitioner admin"`
	TeamID     string          `json:"team_id" validate:"max=64"`
	Supervises []string        `json:"supervises" validate:"max=50,dive,max=64"`
	ServiceID  string          `json:"service_id" validate:"max=64"`
	TZ         string          `json:"tz" validate:"max=64"`
	Hours      json.RawMessage `json:"hours"`
}

// handleCreatePerson serves POST /v1/admin/people: 201 with the person and,
// when they have an e-mail address, a one-time set-password link.
func (s *Server) handleCreatePerson(c *fiber.Ctx) error {
	if err := s.administer(c); err != nil {
		return err
	}
	var req createPersonRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	p := domain.Person{ID: "p_" + hex.EncodeToString(id), Name: strings.TrimSpace(req.Name), Email: strings.ToLower(strings.TrimSpace(req.Email)),
		Role: req.Role, TeamID: req.TeamID, Supervises: req.Supervises, ServiceID: req.ServiceID, TZ: req.TZ, Hours: req.Hours}
	if p.Supervises == nil {
		p.Supervises = []string{}
	}
	var org domain.Org
	var err error
	if org.Teams, err = s.Store.Teams(ctx); err != nil {
		return err
	}
	if org.Services, err = s.Store.Services(ctx); err != nil {
		return err
	}
	if org.People, err = s.Store.People(ctx, domain.PeopleFilter{}); err != nil {
		return err
	}
	if err := domain.ValidatePerson(p, org); err != nil {
		return err
	}
	if err := s.Store.UpsertPerson(ctx, p); err != nil {
		return err
	}
	if err := s.Store.AppendAudit(ctx, domain.AuditEntry{PersonID: staff(c).ID, Action: domain.ActionEdit, RecordID: p.ID,
		Detail: map[string]any{"type": "person", "created": true, "role": p.Role, "via": "api"}}); err != nil {
		return err
	}
	out := map[string]any{"person": p}
	if p.Email != "" {
		tok, expires, err := s.SignIn.IssueLink(ctx, s.Store, p.ID, domain.PasswordSet, staff(c).ID)
		if err != nil {
			return err
		}
		out["set_password_path"], out["set_password_expires"] = "/portal/set-password?token="+tok, expires
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// handleDeactivatePerson serves POST /v1/admin/people/:id/deactivate.
func (s *Server) handleDeactivatePerson(c *fiber.Ctx) error {
	if err := s.administer(c); err != nil {
		return err
	}
	d, err := s.Store.DeactivatePerson(c.UserContext(), c.Params("id"), staff(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(d)
}
