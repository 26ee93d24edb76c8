package api

import (
	"context"
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

// GET /readyz: the database answers and its migrations are applied.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("readyz: ping failed", "err", err.Error())
		return Errorf(domain.EUNAVAILABLE, "database unavailable")
	}
	n, err := s.Store.Migrated(ctx)
	if err != nil || n == 0 {
		return Errorf(domain.EUNAVAILABLE, "database not migrated")
	}
	return c.JSON(fiber.Map{"status": "ready", "migration": n})
}
