package main

// Wiring of the supervisors' portal (server/portal), added by the portal
// engineer: Main mounts it on the API's Fiber app, under /portal, and sends
// "/" there.

import (
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/portal"
)

func mountPortal(m *Main) error {
	cfg := portal.DefaultConfig()
	// Browsers keep Secure cookies from http://localhost; plain HTTP on any
	// other host needs this (development only).
	cfg.InsecureCookies = os.Getenv("PORTAL_INSECURE_COOKIES") == "1"
	cfg.PublicURL = os.Getenv("PUBLIC_URL")
	p := portal.New(cfg, portal.Deps{Store: m.DB, Logger: m.Logger, SignIn: m.API.SignIn,
		Changed: func(keys []string) { m.API.Events.Poke(keys...) }})
	p.Register(m.API.App)
	m.API.App.Get("/", func(c *fiber.Ctx) error { return c.Redirect(cfg.Prefix+"/", fiber.StatusSeeOther) })
	return nil
}
