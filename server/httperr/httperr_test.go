package httperr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/httperr"
)

type waitErr struct{ d time.Duration }

func (w waitErr) Error() string             { return "slow down" }
func (w waitErr) Unwrap() error             { return domain.Errorf(domain.ERATELIMITED, "", "slow down") }
func (w waitErr) RetryAfter() time.Duration { return w.d }

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
		wantRetry  string
		wantLogged string
	}{
		{name: "application error", err: domain.Errorf(domain.ENOTFOUND, "get", "device %q not found", "d1"),
			wantStatus: 404, wantBody: `{"code":"not_found","message":"device \"d1\" not found"}`},
		{name: "wrapped application error", err: fmt.Errorf("load: %w", domain.Errorf(domain.EFORBIDDEN, "", "not yours")),
			wantStatus: 403, wantBody: `{"code":"forbidden","message":"not yours"}`},
		{name: "internal error: logged, not told", err: errors.New("disk I/O error at /srv/secret.db"),
			wantStatus: 500, wantBody: `{"code":"internal","message":"internal error"}`, wantLogged: "/srv/secret.db"},
		{name: "details", err: &httperr.Detailed{Err: domain.Errorf(domain.EREVOKED, "", "revoked"), Details: map[string]bool{"wipe": true}},
			wantStatus: 401, wantBody: `{"code":"revoked","message":"revoked","details":{"wipe":true}}`},
		{name: "internal error drops details", err: &httperr.Detailed{Err: errors.New("boom"), Details: "secret"},
			wantStatus: 500, wantBody: `{"code":"internal","message":"internal error"}`, wantLogged: "boom"},
		{name: "fiber body limit", err: fiber.ErrRequestEntityTooLarge, wantStatus: 413, wantBody: `{"code":"too_large","message":"Request Entity Too Large"}`},
		{name: "fiber method", err: fiber.ErrMethodNotAllowed, wantStatus: 405, wantBody: `{"code":"not_found","message":"Method Not Allowed"}`},
		{name: "fiber other 4xx", err: fiber.ErrUnsupportedMediaType, wantStatus: 415, wantBody: `{"code":"invalid","message":"Unsupported Media Type"}`},
		{name: "fiber 5xx", err: fiber.ErrBadGateway, wantStatus: 500, wantBody: `{"code":"internal","message":"internal error"}`, wantLogged: "Bad Gateway"},
		{name: "rate limited, no wait given", err: domain.Errorf(domain.ERATELIMITED, "", "slow down"),
			wantStatus: 429, wantBody: `{"code":"rate_limited","message":"slow down"}`, wantRetry: "1"},
		{name: "rate limited with a wait", err: waitErr{61500 * time.Millisecond},
			wantStatus: 429, wantBody: `{"code":"rate_limited","message":"slow down"}`, wantRetry: "62"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logged, nil))
			app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
				p := httperr.Describe(c, logger, err)
				return c.Status(p.Status).JSON(p.Body)
			}})
			app.Get("/x", func(c *fiber.Ctx) error { return tc.err })
			resp, err := app.Test(httptest.NewRequest("GET", "/x", nil))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			var got, want any
			if json.Unmarshal(body, &got) != nil || json.Unmarshal([]byte(tc.wantBody), &want) != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("body %s, want %s", body, tc.wantBody)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if r := resp.Header.Get("Retry-After"); r != tc.wantRetry {
				t.Errorf("Retry-After %q, want %q", r, tc.wantRetry)
			}
			if tc.wantLogged == "" && logged.Len() > 0 || !strings.Contains(logged.String(), tc.wantLogged) {
				t.Errorf("logged %q, want it to hold %q", logged.String(), tc.wantLogged)
			}
		})
	}
}
