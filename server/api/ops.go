package api

import (
	"bytes"
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

func registerOpsRoutes(s *Server, r fiber.Router) {
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Get("/metrics", s.handleMetrics)
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

// GET /metrics: Prometheus text exposition.
func (s *Server) handleMetrics(c *fiber.Ctx) error {
	q, err := s.Store.QuarantineSize(c.UserContext())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	s.Metrics.WriteText(&b, int64(q))
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(b.Bytes())
}
