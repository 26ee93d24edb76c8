package api

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

func registerOpsRoutes(s *Server, r fiber.Router) {
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	registerMetricsRoute(s, r, false)
}

// GET /healthz: the process is up.
func (s *Server) handleHealthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// GET /readyz: the database answers, its migrations are applied, it passed
// its integrity check and the last write did not fail for want of storage.
// A damaged record does not make the server unready (it is skipped and the
// rest of its team syncs), but the answer says how many there are.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	h := s.Store.Health(ctx)
	if h.Corrupt != "" {
		// The reason is SQLite's (pages, tables), never record content.
		return &DetailedError{Err: Errorf(domain.EDBCORRUPT, "database failed its integrity check; writes are refused: restore from a backup"),
			Details: fiber.Map{"reason": h.Corrupt}}
	}
	if h.Fault != "" {
		return Errorf(h.Fault, "the last write failed for want of storage (%s); ready again once a write succeeds", h.Fault)
	}
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("readyz: ping failed", "err", err.Error())
		return Errorf(domain.EUNAVAILABLE, "database unavailable")
	}
	n, err := s.Store.Migrated(ctx)
	if err != nil || n == 0 {
		return Errorf(domain.EUNAVAILABLE, "database not migrated")
	}
	if h.Damaged > 0 {
		return c.JSON(fiber.Map{"status": "degraded", "migration": n,
			"reason":  fmt.Sprintf("%d damaged stored items are skipped until repaired (ids in the server log)", h.Damaged),
			"damaged": h.Damaged})
	}
	return c.JSON(fiber.Map{"status": "ready", "migration": n})
}
