package api

import (
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

var validate = newValidator()

// newValidator reports fields by their JSON names, as the client sent them
// (page_bytes, person_id), not as Go spells them.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" {
			return f.Name
		}
		return name
	})
	return v
}

func registerEnrolRoutes(s *Server, r fiber.Router) {
	r.Post("/enrol", s.handleEnrol)
}

type enrolRequest struct {
	Code     string `json:"code" validate:"required,min=6,max=40"`
	Platform string `json:"platform" validate:"required,oneof=android ios web sim"`
	// InstallID (optional): a random id the phone keeps for this attempt; a
	// retry with the same code and install_id within 10 minutes gets the same
	// device back (its first answer was lost).
	InstallID string `json:"install_id" validate:"omitempty,min=16,max=64,alphanum"`
	// ReplicaID (optional): the replica id the phone already writes with,
	// kept on re-enrolment so its unsent and unconfirmed saves stay valid.
	ReplicaID string `json:"replica_id" validate:"omitempty,len=32,hexadecimal"`
}

// parseJSON decodes and validates a JSON body once, for every handler.
func parseJSON(c *fiber.Ctx, v any) error {
	if err := c.BodyParser(v); err != nil {
		return Errorf(domain.EMALFORMED, "request body is not valid JSON")
	}
	if err := validate.Struct(v); err != nil {
		return validationError(err)
	}
	return nil
}

// validationError turns validator errors into invalid with per-field details
// (field names and rules only, never values).
func validationError(err error) error {
	var details []map[string]string
	if verrs, ok := err.(validator.ValidationErrors); ok {
		for _, fe := range verrs {
			details = append(details, map[string]string{"field": fe.Field(), "rule": fe.Tag()})
		}
	}
	return &DetailedError{Err: Errorf(domain.EINVALID, "request failed validation"), Details: details}
}

// POST /v1/enrol: exchange a one-time code for a device credential.
func (s *Server) handleEnrol(c *fiber.Ctx) error {
	var req enrolRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	if !s.allow(c.UserContext(), "enrol:"+c.IP()) {
		return Errorf(domain.ERATELIMITED, "too many enrolment attempts")
	}
	e, err := s.Store.EnrolDevice(c.UserContext(), domain.EnrolRequest{Code: domain.NormaliseCode(req.Code), Platform: req.Platform,
		InstallID: req.InstallID, ReplicaID: strings.ToLower(req.ReplicaID)})
	if err != nil {
		return err
	}
	s.Metrics.Enrolments.Inc()
	return c.Status(fiber.StatusCreated).JSON(e)
}
