package api

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/signin"
)

func registerAdminRoutes(s *Server, r fiber.Router) {
	a := r.Group("/admin", s.requireStaff)
	a.Post("/devices/enrol-code", s.handleIssueCode)
	a.Post("/enrolment-codes", s.handleIssueCode) // the first name of the route, kept for existing clients
	a.Post("/devices/:id/revoke", s.handleRevokeDevice)
	a.Get("/quarantine", s.handleListQuarantine)
	a.Get("/quarantine/:id", s.handleGetQuarantine)
	a.Post("/quarantine/:id/review", s.handleReviewQuarantine)
	a.Post("/backup", s.handleBackup)
	registerTransferRoutes(s, a)
	registerPrivacyRoutes(s, a)
	registerPeopleRoutes(s, a)
}

// basicStaffAuth signs staff in with HTTP Basic (email, password).
func (s *Server) basicStaffAuth(c *fiber.Ctx) (domain.Person, error) {
	h := c.Get(fiber.HeaderAuthorization)
	raw, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return domain.Person{}, Errorf(domain.EUNAUTHORIZED, "staff credentials required")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return domain.Person{}, Errorf(domain.EUNAUTHORIZED, "staff credentials required")
	}
	email, password, ok := strings.Cut(string(b), ":")
	if !ok {
		return domain.Person{}, Errorf(domain.EUNAUTHORIZED, "staff credentials required")
	}
	p, err := s.SignIn.Check(c.UserContext(), signin.Attempt{Email: email, Password: password, Client: c.IP(), Via: "api"})
	if err != nil {
		return p, err
	}
	// The second factor is no less mandatory here than in the portal: a
	// password alone must not open what the portal keeps behind a code.
	switch signin.NeedsSecondFactor(p, s.Config.TwoFactorRoles) {
	case domain.StageTOTP:
		code := c.Get(HeaderOTP)
		if code == "" {
			return domain.Person{}, Errorf(domain.EUNAUTHORIZED, "a one-time code from your authenticator app is required in the %s header", HeaderOTP)
		}
		if err := s.SignIn.CheckSecondFactor(c.UserContext(), s.Store, p, code, c.IP()); err != nil {
			return domain.Person{}, err
		}
	case domain.StageEnrol:
		return domain.Person{}, Errorf(domain.EFORBIDDEN, "two-factor sign-in is required for your role: set it up in the portal first")
	}
	return p, nil
}

// HeaderOTP carries a staff member's one-time code (TOTP or a recovery
// code) on admin API requests.
const HeaderOTP = "X-JoinedUp-OTP"

// requireStaff admits supervisors and admins.
func (s *Server) requireStaff(c *fiber.Ctx) error {
	p, err := s.basicStaffAuth(c)
	if err != nil {
		return err
	}
	if p.Role != domain.RoleSupervisor && p.Role != domain.RoleAdmin {
		return Errorf(domain.EFORBIDDEN, "only supervisors and admins may do this")
	}
	c.Locals("staff", p)
	return c.Next()
}

func staff(c *fiber.Ctx) domain.Person { return c.Locals("staff").(domain.Person) }

// canManage reports whether staff may manage person p's devices.
func (s *Server) canManage(c *fiber.Ctx, p domain.Person) (bool, error) {
	st := staff(c)
	if st.Role == domain.RoleAdmin {
		return true, nil
	}
	scope, err := s.Store.ScopeOf(c.UserContext(), st)
	if err != nil {
		return false, err
	}
	return p.TeamID != "" && slices.Contains(scope.Teams, p.TeamID), nil
}

type issueCodeRequest struct {
	PersonID string `json:"person_id" validate:"required_without=Email,excluded_with=Email,max=64"`
	Email    string `json:"email" validate:"required_without=PersonID,omitempty,email,max=254"`
}

// POST /v1/admin/devices/enrol-code (also /v1/admin/enrolment-codes): a
// one-time code for a person the caller may issue one for
// (domain.MayIssueEnrolmentCode), named by person_id or by email (exactly one).
func (s *Server) handleIssueCode(c *fiber.Ctx) error {
	var req issueCodeRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	var p domain.Person
	var err error
	if req.PersonID != "" {
		p, err = s.Store.Person(c.UserContext(), req.PersonID)
	} else {
		p, err = s.Store.PersonByEmail(c.UserContext(), req.Email)
	}
	if err != nil {
		return err
	}
	issuer, err := s.Store.ScopeOf(c.UserContext(), staff(c))
	if err != nil {
		return err
	}
	target, err := s.Store.ScopeOf(c.UserContext(), p)
	if err != nil {
		return err
	}
	if err := domain.MayIssueEnrolmentCode(issuer, p, target); err != nil {
		return err
	}
	code, exp, err := s.Store.IssueEnrolmentCode(c.UserContext(), p.ID, staff(c).ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"code": code, "expires_at": exp, "person_id": p.ID,
		"role": p.Role, "team_id": p.TeamID})
}

type revokeRequest struct {
	Reason string `json:"reason" validate:"max=500"`
}

// POST /v1/admin/devices/:id/revoke: revoke a device; it wipes at next contact.
func (s *Server) handleRevokeDevice(c *fiber.Ctx) error {
	var req revokeRequest
	if len(c.Body()) > 0 {
		if err := parseJSON(c, &req); err != nil {
			return err
		}
	}
	d, err := s.Store.Device(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	p, err := s.Store.Person(c.UserContext(), d.PersonID)
	if err != nil {
		return err
	}
	if ok, err := s.canManage(c, p); err != nil {
		return err
	} else if !ok {
		return Errorf(domain.EFORBIDDEN, "that device is not in a team you supervise")
	}
	if err := s.Store.RevokeDevice(c.UserContext(), d.ID, staff(c).ID, req.Reason); err != nil {
		return err
	}
	s.Events.Poke("device:" + d.ID)
	return c.JSON(fiber.Map{"device_id": d.ID, "status": domain.DeviceRevoked})
}

// GET /v1/admin/quarantine: the open quarantined changesets the reviewer may
// decide now (domain.AuthorizeDiscard; ?all=1 includes reviewed ones).
func (s *Server) handleListQuarantine(c *fiber.Ctx) error {
	scope, err := s.Store.ScopeOf(c.UserContext(), staff(c))
	if err != nil {
		return err
	}
	items, err := s.Store.Quarantine(c.UserContext(), domain.QuarantineFilter{Open: c.Query("all") == "", DeviceID: c.Query("device"), Reviewer: &scope})
	if err != nil {
		return err
	}
	if items == nil {
		items = []domain.QuarantineItem{}
	}
	return c.JSON(fiber.Map{"items": items})
}

func quarantineID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return 0, Errorf(domain.ENOTFOUND, "no such quarantine item")
	}
	return id, nil
}

// GET /v1/admin/quarantine/:id: one item and what releasing it would change.
func (s *Server) handleGetQuarantine(c *fiber.Ctx) error {
	id, err := quarantineID(c)
	if err != nil {
		return err
	}
	d, err := s.Store.QuarantineItem(c.UserContext(), id, staff(c))
	if err != nil {
		return err
	}
	return c.JSON(d)
}

type reviewRequest struct {
	Resolution string `json:"resolution" validate:"required,oneof=release discard"`
}

// POST /v1/admin/quarantine/:id/review: release or discard a quarantined
// changeset. Release re-runs the policy for its pusher and the reviewer.
func (s *Server) handleReviewQuarantine(c *fiber.Ctx) error {
	id, err := quarantineID(c)
	if err != nil {
		return err
	}
	var req reviewRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	if err := s.Store.ReviewQuarantine(c.UserContext(), id, staff(c), req.Resolution); err != nil {
		return err
	}
	s.Events.Poke("*")
	return c.JSON(fiber.Map{"id": id, "resolution": req.Resolution})
}

// POST /v1/admin/backup: an online, consistent copy of the database (admins only).
func (s *Server) handleBackup(c *fiber.Ctx) error {
	if staff(c).Role != domain.RoleAdmin {
		return Errorf(domain.EFORBIDDEN, "only admins may take backups")
	}
	if s.Config.BackupDir == "" {
		return Errorf(domain.EUNAVAILABLE, "backups are not configured")
	}
	if err := os.MkdirAll(s.Config.BackupDir, 0o700); err != nil {
		return fmt.Errorf("backup dir: %w", err)
	}
	path := filepath.Join(s.Config.BackupDir, "joinedup-"+s.Config.Now().UTC().Format("20060102T150405.000000000Z")+".sqlite")
	start := time.Now()
	if err := s.Store.Backup(c.UserContext(), path); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"path": path, "bytes": st.Size(), "ms": time.Since(start).Milliseconds()})
}
