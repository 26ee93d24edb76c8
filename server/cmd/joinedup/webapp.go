package main

// Wiring of the installable field app (mobile-sdk/webapp) at /app/. The
// engine (app.wasm, wasm_exec.js) is built by `make webapp` into
// $WEBAPP_DIR, default bin/webapp; the shell is embedded in the binary.

import (
	"net/http"
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/joinedup/joinedup/mobile-sdk/webapp"
)

func mountWebApp(m *Main) error {
	dir := os.Getenv("WEBAPP_DIR")
	if dir == "" {
		dir = "bin/webapp"
	}
	h := adaptor.HTTPHandler(http.StripPrefix("/app", webapp.Handler(dir)))
	m.API.App.Use("/app", func(c *fiber.Ctx) error {
		if c.Path() == "/app" {
			// The page's relative URLs (and the service worker's scope) need the slash.
			return c.Redirect("/app/", fiber.StatusMovedPermanently)
		}
		return h(c)
	})
	return nil
}
