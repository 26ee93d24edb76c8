package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// registerTransferRoutes adds the transfer routes to the /v1/admin group
// (which already requires staff credentials).
func registerTransferRoutes(s *Server, admin fiber.Router) {
	admin.Get("/transfers", s.handleListTransfers)
	admin.Post("/transfers", s.handleStartTransfer)
	admin.Post("/transfers/:id/:decision", s.handleDecideTransfer)
}

type startTransferRequest struct {
	YoungPersonID string `json:"young_person_id" validate:"required,max=64"`
	ToTeam        string `json:"to_team" validate:"required,max=64"`
	Reason        string `json:"reason" validate:"max=1000"`
}

// POST /v1/admin/transfers: a supervisor of the young person's team asks to
// move them (with their referrals and follow-ups) to another team.
func (s *Server) handleStartTransfer(c *fiber.Ctx) error {
	var req startTransferRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	t, err := s.Store.StartTransfer(c.UserContext(), staff(c), req.YoungPersonID, req.ToTeam, req.Reason)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

// GET /v1/admin/transfers?status=pending: transfers from or to the caller's teams.
func (s *Server) handleListTransfers(c *fiber.Ctx) error {
	scope, err := s.Store.ScopeOf(c.UserContext(), staff(c))
	if err != nil {
		return err
	}
	ts, err := s.Store.Transfers(c.UserContext(), domain.TransferFilter{Viewer: scope, Status: c.Query("status"), YoungPersonID: c.Query("young_person_id")})
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []domain.Transfer{}
	}
	return c.JSON(fiber.Map{"transfers": ts})
}

// POST /v1/admin/transfers/:id/(accept|decline|cancel): the receiving team's
// supervisor accepts or declines (the server then moves the records); the
// source team's cancels.
func (s *Server) handleDecideTransfer(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return Errorf(domain.ENOTFOUND, "no such transfer")
	}
	switch d := c.Params("decision"); d {
	case domain.DecisionAccept, domain.DecisionDecline, domain.DecisionCancel:
		t, err := s.Store.DecideTransfer(c.UserContext(), staff(c), id, d)
		if err != nil {
			return err
		}
		if t.Status == domain.TransferAccepted {
			s.Events.Poke("team:"+t.FromTeam, "team:"+t.ToTeam)
		}
		return c.JSON(t)
	}
	return Errorf(domain.ENOTFOUND, "no such endpoint")
}
