package api

import (
	"bufio"
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// Broker fans "something changed" pokes out to live-channel subscribers by
// scope key ("team:<id>", "svc:<id>", or "*" for everything). A poke carries
// no data: the device pulls.
type Broker struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]struct{}
	closed bool
}

func NewBroker() *Broker { return &Broker{subs: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel poked when any of keys changes, and a cancel
// func. The channel is closed when the broker closes (shutdown).
func (b *Broker) Subscribe(keys []string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	for _, k := range keys {
		if b.subs[k] == nil {
			b.subs[k] = map[chan struct{}]struct{}{}
		}
		b.subs[k][ch] = struct{}{}
	}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, k := range keys {
			if _, ok := b.subs[k][ch]; ok {
				delete(b.subs[k], ch)
				if len(b.subs[k]) == 0 {
					delete(b.subs, k)
				}
			}
		}
	}
}

// Poke wakes the subscribers of keys (and of "*"). It never blocks.
func (b *Broker) Poke(keys ...string) {
	if len(keys) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range append(keys, "*") {
		for ch := range b.subs[k] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Close ends every subscription.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	seen := map[chan struct{}]bool{}
	for _, m := range b.subs {
		for ch := range m {
			if !seen[ch] {
				seen[ch] = true
				close(ch)
			}
		}
	}
	b.subs = map[string]map[chan struct{}]struct{}{}
}

// GET /v1/sync/events: a server-sent event stream that says "changed" when
// something in the device's scope changed (or it was revoked); the device
// then calls POST /v1/sync. Events carry no data.
func (s *Server) handleSyncEvents(c *fiber.Ctx) error {
	d := c.Locals("device").(domain.Device)
	p := c.Locals("person").(domain.Person)
	scope, err := s.Store.ScopeOf(c.UserContext(), p)
	if err != nil {
		return err
	}
	keys := []string{"device:" + d.ID}
	switch {
	case scope.All:
		keys = append(keys, "*")
	case scope.Practitioner():
		keys = append(keys, "svc:"+scope.ServiceID)
	default:
		for _, t := range scope.Teams {
			keys = append(keys, "team:"+t)
		}
	}
	ch, cancel := s.Events.Subscribe(keys)
	heartbeat := s.Config.SSEHeartbeat
	if heartbeat <= 0 {
		heartbeat = 25 * time.Second
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	// fasthttp sets one write deadline for a whole response, WriteTimeout
	// from its start: it would cut this stream however lively. Each write
	// gets a deadline of its own instead, so a stream lasts as long as its
	// client reads, and a client that stopped reading is still let go.
	conn, writeTimeout := c.Context().Conn(), s.Config.WriteTimeout
	flush := func(w *bufio.Writer) error {
		if writeTimeout > 0 {
			if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				return err
			}
		}
		return w.Flush()
	}
	s.Metrics.SSEClients.Inc()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.Metrics.SSEClients.Dec()
		defer cancel()
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		if _, err := fmt.Fprint(w, "retry: 5000\nevent: ready\ndata: {}\n\n"); err != nil || flush(w) != nil {
			return
		}
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					fmt.Fprint(w, "event: bye\ndata: {}\n\n")
					flush(w)
					return
				}
				if _, err := fmt.Fprint(w, "event: changed\ndata: {}\n\n"); err != nil {
					return
				}
			case <-t.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
			}
			if err := flush(w); err != nil {
				return
			}
		}
	})
	return nil
}
