package api

import (
	"context"
	"sync"
	"time"
)

// SharedLimits keeps rate-limit buckets where every server node sees them
// (the Postgres store): with several nodes behind one address, a client
// spreading its requests over them must not get a multiple of the rate.
// TakeToken takes a token from key's bucket (rate per second, burst at
// most), reporting false when it is empty.
type SharedLimits interface {
	TakeToken(ctx context.Context, key string, rate float64, burst int, now time.Time) (bool, error)
}

// allow takes a token for key from the shared buckets (Server.Limits) or,
// without them or while they cannot be reached, from this process's.
func (s *Server) allow(ctx context.Context, key string) bool {
	if s.Config.RateLimit <= 0 {
		return true
	}
	if s.Limits != nil {
		ok, err := s.Limits.TakeToken(ctx, key, s.Config.RateLimit, s.Config.RateBurst, s.Config.Now())
		if err == nil {
			return ok
		}
		s.Logger.Warn("shared rate limits unavailable: this node's own apply", "err", err.Error())
	}
	return s.limiter.allow(key)
}

// limiter is a token bucket per key (device id). Buckets idle for a minute
// are dropped so the map stays small.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, reporting false when the bucket is empty.
func (l *limiter) allow(key string) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
