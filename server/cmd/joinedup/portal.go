package main

// Wiring of the supervisors' portal (server/portal), added by the portal
// engineer: Main mounts it on the API's Fiber app, under /portal, and sends
// "/" there.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/portal"
	"github.com/joinedup/joinedup/server/signin"
)

func mountPortal(m *Main) error {
	cfg := portal.DefaultConfig()
	// Browsers keep Secure cookies from http://localhost; plain HTTP on any
	// other host needs this (development only).
	cfg.InsecureCookies = os.Getenv("PORTAL_INSECURE_COOKIES") == "1"
	cfg.PublicURL = os.Getenv("PUBLIC_URL")
	if !m.Config.Demo {
		// Real data: supervisors and admins must enrol a second factor. The
		// demo's printed logins stay password-only so the walkthrough works.
		cfg.TwoFactorRoles = signin.TwoFactorRoles
	}
	sso, err := ssoFromEnv(cfg)
	if err != nil {
		return err
	}
	p := portal.New(cfg, portal.Deps{Store: m.DB, Logger: m.Logger, SignIn: m.API.SignIn, SSO: sso,
		Changed: func(keys []string) { m.API.Events.Poke(keys...) }})
	p.Register(m.API.App)
	m.API.App.Get("/", func(c *fiber.Ctx) error { return c.Redirect(cfg.Prefix+"/", fiber.StatusSeeOther) })
	return nil
}

// ssoFromEnv configures single sign-on from OIDC_ISSUER, OIDC_CLIENT_ID and
// OIDC_CLIENT_SECRET (nil when OIDC_ISSUER is unset). The provider must
// list PUBLIC_URL/portal/login/sso/callback as a redirect URI.
func ssoFromEnv(cfg portal.Config) (*signin.SSO, error) {
	issuer := os.Getenv("OIDC_ISSUER")
	if issuer == "" {
		return nil, nil
	}
	if cfg.PublicURL == "" {
		return nil, fmt.Errorf("single sign-on (OIDC_ISSUER) needs PUBLIC_URL, the address the provider sends staff back to")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return signin.NewSSO(ctx, signin.SSOConfig{Issuer: issuer, ClientID: os.Getenv("OIDC_CLIENT_ID"),
		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"), RedirectURL: strings.TrimRight(cfg.PublicURL, "/") + cfg.Prefix + "/login/sso/callback"})
}
