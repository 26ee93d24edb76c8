package signin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/joinedup/joinedup/server/domain"
	"golang.org/x/oauth2"
)

// Single sign-on with OpenID Connect (Microsoft Entra ID, Google Workspace):
// github.com/coreos/go-oidc/v3 discovers the provider and verifies its ID
// tokens (signature against the provider's JWKS, issuer, audience, expiry);
// golang.org/x/oauth2 runs the authorisation-code flow. A verified e-mail
// address is mapped to an existing, active person: SSO never creates an
// account.

// SSOConfig configures the one identity provider.
type SSOConfig struct {
	Issuer       string // e.g. https://login.microsoftonline.com/<tenant>/v2.0
	ClientID     string
	ClientSecret string
	RedirectURL  string // <public URL>/portal/login/sso/callback
	Now          func() time.Time
}

// SSO is a configured OpenID Connect relying party.
type SSO struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewSSO discovers the provider (its /.well-known/openid-configuration).
func NewSSO(ctx context.Context, cfg SSOConfig) (*SSO, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, fmt.Errorf("single sign-on needs an issuer, a client id and a redirect URL")
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("single sign-on provider %s: %w", cfg.Issuer, err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &SSO{
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: now}),
	}, nil
}

// AuthURL is where to send the browser, carrying state and nonce.
func (s *SSO) AuthURL(state, nonce string) string {
	return s.oauth.AuthCodeURL(state, oidc.Nonce(nonce))
}

// SSOIdentity is what a verified ID token says about who signed in.
type SSOIdentity struct {
	Email string
	MFA   bool // the provider says it used more than one factor (amr "mfa")
}

// Refusal reasons, for the audit log (never the address itself).
var (
	ErrSSOToken    = domain.Errorf(domain.EUNAUTHORIZED, "single sign-on", "your organisation's sign-in could not be verified")
	ErrSSONoEmail  = domain.Errorf(domain.EUNAUTHORIZED, "single sign-on", "your organisation's sign-in did not give a verified e-mail address")
	ErrSSONoPerson = domain.Errorf(domain.EUNAUTHORIZED, "single sign-on", "there is no active JoinedUp account for your e-mail address; ask an admin")
)

// Exchange swaps the authorisation code for tokens and verifies the ID
// token, including that it carries the nonce this browser was given.
func (s *SSO) Exchange(ctx context.Context, code, nonce string) (SSOIdentity, string, error) {
	tok, err := s.oauth.Exchange(ctx, code)
	if err != nil {
		return SSOIdentity{}, "code exchange refused", ErrSSOToken
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return SSOIdentity{}, "no id token", ErrSSOToken
	}
	idt, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case errors.As(err, &expired):
			return SSOIdentity{}, "id token expired", ErrSSOToken
		case strings.Contains(err.Error(), "audience"):
			return SSOIdentity{}, "id token for another client", ErrSSOToken
		}
		return SSOIdentity{}, "id token not verified", ErrSSOToken
	}
	if nonce == "" || idt.Nonce != nonce {
		return SSOIdentity{}, "nonce mismatch", ErrSSOToken
	}
	var claims struct {
		Email    string   `json:"email"`
		Verified *bool    `json:"email_verified"`
		AMR      []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		return SSOIdentity{}, "claims unreadable", ErrSSOToken
	}
	if claims.Email == "" || claims.Verified == nil || !*claims.Verified {
		return SSOIdentity{}, "no verified e-mail", ErrSSONoEmail
	}
	return SSOIdentity{Email: normaliseEmail(claims.Email), MFA: slices.Contains(claims.AMR, "mfa")}, "", nil
}

// SSOPerson maps a verified identity to an active person, or refuses.
func SSOPerson(ctx context.Context, st Store, id SSOIdentity) (domain.Person, string, error) {
	p, err := st.PersonByEmail(ctx, id.Email)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return p, "no such person", ErrSSONoPerson
	case err != nil:
		return p, "", err
	case !p.Deactivated.IsZero():
		return p, "person deactivated", ErrSSONoPerson
	}
	return p, "", nil
}
