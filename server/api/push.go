package api

import (
	"context"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// TokenStore is what the push-token routes need (the store's push tokens).
type TokenStore interface {
	RegisterToken(ctx context.Context, deviceID, personID, token, platform string) error
	RemoveDeviceTokens(ctx context.Context, deviceID string) error
}

// MountPush adds the push-token routes, device-authenticated like /v1/sync.
// Call it before NotFound. Without it (no push store) the routes are 404.
func (s *Server) MountPush(tokens TokenStore) {
	registerPushRoutes(s, s.App.Group("/v1"), tokens)
}

func registerPushRoutes(s *Server, r fiber.Router, tokens TokenStore) {
	g := r.Group("/push", s.requireDevice)
	g.Post("/token", func(c *fiber.Ctx) error { return s.handlePushToken(c, tokens) })
	g.Delete("/token", func(c *fiber.Ctx) error { return s.handlePushTokenDelete(c, tokens) })
}

func init() { validate.RegisterValidation("pushtoken", validPushToken) }

// validPushToken: FCM registration tokens (Android, iOS and the field app's
// browser alike) are base64url with a colon; APNs tokens are hex. Nothing
// else is a token: a space, quote, angle bracket or slash is a client
// sending something it should not, which would otherwise be stored and
// later handed to FCM and to logs of failed sends.
func validPushToken(fl validator.FieldLevel) bool {
	for _, r := range fl.Field().String() {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == ':', r == '.':
		default:
			return false
		}
	}
	return true
}

type pushTokenRequest struct {
	// FCM registration tokens are ~160-250 characters; 4096 is the store's bound.
	Token    string `json:"token" validate:"required,max=4096,pushtoken"`
	Platform string `json:"platform" validate:"required,oneof=android ios web sim"`
}

// POST /v1/push/token: register or refresh this device's FCM token (the app
// calls it at start and whenever FCM rotates the token). A device has one
// token: a new one replaces the old. The token is stored with the time last
// seen; the person it reaches is the device's owner.
func (s *Server) handlePushToken(c *fiber.Ctx, tokens TokenStore) error {
	var req pushTokenRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	d := c.Locals("device").(domain.Device)
	p := c.Locals("person").(domain.Person)
	if err := tokens.RegisterToken(c.UserContext(), d.ID, p.ID, req.Token, req.Platform); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "registered": true})
}

// DELETE /v1/push/token: forget this device's tokens (the user turned
// notifications off or signed out).
func (s *Server) handlePushTokenDelete(c *fiber.Ctx, tokens TokenStore) error {
	d := c.Locals("device").(domain.Device)
	if err := tokens.RemoveDeviceTokens(c.UserContext(), d.ID); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"device_id": d.ID, "registered": false})
}
