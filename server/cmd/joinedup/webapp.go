package main

// Wiring of the installable field app (mobile-sdk/webapp) at /app/. The
// engine (app.wasm, wasm_exec.js) is built by `make webapp` into
// $WEBAPP_DIR, default bin/webapp; the shell is embedded in the binary.

import (
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/joinedup/joinedup/mobile-sdk/webapp"
	"github.com/joinedup/joinedup/server/push"
)

func mountWebApp(m *Main) error {
	dir := os.Getenv("WEBAPP_DIR")
	if dir == "" {
		dir = "bin/webapp"
	}
	h := adaptor.HTTPHandler(http.StripPrefix("/app", webapp.NewHandler(dir, m.Config.WebPush)))
	m.API.App.Use("/app", func(c *fiber.Ctx) error {
		if c.Path() == "/app" {
			// The page's relative URLs (and the service worker's scope) need the slash.
			return c.Redirect("/app/", fiber.StatusMovedPermanently)
		}
		return h(c)
	})
	return nil
}

// webPushFromEnv reads the field app's Web Push configuration (docs/push.md).
func webPushFromEnv() webapp.WebPush {
	return webapp.WebPush{APIKey: os.Getenv("WEBPUSH_API_KEY"), ProjectID: os.Getenv("WEBPUSH_PROJECT_ID"),
		MessagingSenderID: os.Getenv("WEBPUSH_SENDER_ID"), AppID: os.Getenv("WEBPUSH_APP_ID"), VAPIDKey: os.Getenv("WEBPUSH_VAPID_KEY")}
}

func webPushFlags(fs *flag.FlagSet, w *webapp.WebPush) {
	fs.StringVar(&w.APIKey, "webpush-api-key", w.APIKey, "field app Web Push: the Firebase web app's apiKey (default $WEBPUSH_API_KEY); all five -webpush-* or none")
	fs.StringVar(&w.ProjectID, "webpush-project", w.ProjectID, "field app Web Push: the Firebase projectId (default $WEBPUSH_PROJECT_ID)")
	fs.StringVar(&w.MessagingSenderID, "webpush-sender-id", w.MessagingSenderID, "field app Web Push: the Firebase messagingSenderId (default $WEBPUSH_SENDER_ID)")
	fs.StringVar(&w.AppID, "webpush-app-id", w.AppID, "field app Web Push: the Firebase web appId (default $WEBPUSH_APP_ID)")
	fs.StringVar(&w.VAPIDKey, "webpush-vapid-key", w.VAPIDKey, "field app Web Push: the project's VAPID public key, base64url (default $WEBPUSH_VAPID_KEY)")
}

// validateWebPush: the browser's FCM token belongs to the web config's
// project; a server sending with another project's credentials would be
// refused every time (SENDER_ID_MISMATCH), so the two must agree.
func validateWebPush(w webapp.WebPush, p push.Config) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if w.Enabled() && p.ProjectID != "" && p.ProjectID != w.ProjectID {
		return fmt.Errorf("web push: project %q differs from the FCM project %q: the server could not send to the field app's tokens", w.ProjectID, p.ProjectID)
	}
	return nil
}
