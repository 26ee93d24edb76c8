package api

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// PrivacyStore is retention, legal holds, the audit chain and purge notices.
type PrivacyStore interface {
	RetentionRules(ctx context.Context) ([]domain.RetentionRule, error)
	SetRetentionRule(ctx context.Context, rule domain.RetentionRule, by string) error
	RetentionPreview(ctx context.Context) (domain.RetentionPlan, error)
	RunRetention(ctx context.Context) (domain.RetentionRun, error)
	RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error)
	PlaceLegalHold(ctx context.Context, h domain.LegalHold) error
	LiftLegalHold(ctx context.Context, recordID, by string) error
	VerifyAudit(ctx context.Context) (domain.AuditVerify, error)
	PurgeNotices(ctx context.Context, ids []string) ([]domain.PurgeNotice, error)
}

// registerPrivacyRoutes adds to the /v1/admin group (staff already checked).
// The admin check is per route: a group's middleware would reach every
// route under its prefix.
func registerPrivacyRoutes(s *Server, a fiber.Router) {
	a.Get("/retention", requireAdmin, s.handleRetention)
	a.Put("/retention/rules/:type", requireAdmin, s.handleSetRetentionRule)
	a.Post("/retention/run", requireAdmin, s.handleRunRetention)
	a.Post("/legal-holds", requireAdmin, s.handlePlaceLegalHold)
	a.Delete("/legal-holds/:record", requireAdmin, s.handleLiftLegalHold)
	a.Get("/audit/verify", requireAdmin, s.handleVerifyAudit)
	a.Get("/erasures/notices", s.handlePurgeNotices)
}

// requireAdmin admits admins only (after requireStaff): retention and legal
// holds decide what the whole organisation keeps.
func requireAdmin(c *fiber.Ctx) error {
	if staff(c).Role != domain.RoleAdmin {
		return Errorf(domain.EFORBIDDEN, "only an admin may do this")
	}
	return c.Next()
}

// GET /v1/admin/retention: the schedule, what the next run will remove (and
// keep for a hold), and the latest run reports.
func (s *Server) handleRetention(c *fiber.Ctx) error {
	ctx := c.UserContext()
	rules, err := s.Store.RetentionRules(ctx)
	if err != nil {
		return err
	}
	plan, err := s.Store.RetentionPreview(ctx)
	if err != nil {
		return err
	}
	runs, err := s.Store.RetentionRuns(ctx, 20)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []domain.RetentionRun{}
	}
	return c.JSON(fiber.Map{"rules": rules, "preview": plan, "runs": runs})
}

type retentionRuleRequest struct {
	KeepDays int `json:"keep_days" validate:"gte=30,lte=36500"`
}

// PUT /v1/admin/retention/rules/:type: keep records of a type for keep_days
// after their basis date.
func (s *Server) handleSetRetentionRule(c *fiber.Ctx) error {
	var req retentionRuleRequest
	if err := c.BodyParser(&req); err != nil {
		return Errorf(domain.EMALFORMED, "request body is not valid JSON")
	}
	if err := validate.Struct(req); err != nil {
		return validationError(err)
	}
	rule := domain.RetentionRule{Type: c.Params("type"), KeepDays: req.KeepDays}
	if err := s.Store.SetRetentionRule(c.UserContext(), rule, staff(c).ID); err != nil {
		return err
	}
	rule.Basis = domain.RetentionBasis[rule.Type]
	return c.JSON(rule)
}

// POST /v1/admin/retention/run: run retention now (the server also runs it
// daily) and return its report.
func (s *Server) handleRunRetention(c *fiber.Ctx) error {
	run, err := s.Store.RunRetention(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(run)
}

type legalHoldRequest struct {
	RecordID string `json:"record_id" validate:"required,max=64"`
	Reason   string `json:"reason" validate:"required,min=5,max=1000"`
}

// POST /v1/admin/legal-holds: keep a record from retention.
func (s *Server) handlePlaceLegalHold(c *fiber.Ctx) error {
	var req legalHoldRequest
	if err := c.BodyParser(&req); err != nil {
		return Errorf(domain.EMALFORMED, "request body is not valid JSON")
	}
	if err := validate.Struct(req); err != nil {
		return validationError(err)
	}
	if err := s.Store.PlaceLegalHold(c.UserContext(), domain.LegalHold{RecordID: req.RecordID, Reason: req.Reason, By: staff(c).ID}); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"record_id": req.RecordID, "held": true})
}

// DELETE /v1/admin/legal-holds/:record: lift a legal hold.
func (s *Server) handleLiftLegalHold(c *fiber.Ctx) error {
	if err := s.Store.LiftLegalHold(c.UserContext(), c.Params("record"), staff(c).ID); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"record_id": c.Params("record"), "held": false})
}

// GET /v1/admin/audit/verify: check the audit log's hash chain.
func (s *Server) handleVerifyAudit(c *fiber.Ctx) error {
	res, err := s.Store.VerifyAudit(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// GET /v1/admin/erasures/notices[?record=ID]: which phones were told to
// purge erased records, and which confirmed.
func (s *Server) handlePurgeNotices(c *fiber.Ctx) error {
	var ids []string
	if r := c.Query("record"); r != "" {
		ids = []string{r}
	}
	ns, err := s.Store.PurgeNotices(c.UserContext(), ids)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = []domain.PurgeNotice{}
	}
	return c.JSON(ns)
}
