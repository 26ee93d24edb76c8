package sqlite

import (
	"context"
	"sync"
)

// fifo hands the single write connection to waiting transactions in the
// order they asked for it. database/sql gives a freed connection to any
// waiter (a map of requests), so under load some syncs waited many turns
// while later ones went first: p99 several times p50.
type fifo struct {
	mu   sync.Mutex
	held bool
	q    []chan struct{}
}

// lock waits for the turn of the caller, or for ctx to end.
func (f *fifo) lock(ctx context.Context) error {
	_, err := f.lockOr(ctx, nil)
	return err
}

// lockOr waits for the turn of the caller (true), for stop to close (false,
// nil: another holder did the caller's work, see group.go), or for ctx to
// end. A turn that comes as the wait ends is passed on, never lost.
func (f *fifo) lockOr(ctx context.Context, stop <-chan struct{}) (bool, error) {
	f.mu.Lock()
	if !f.held {
		f.held = true
		f.mu.Unlock()
		return true, nil
	}
	ch := make(chan struct{})
	f.q = append(f.q, ch)
	f.mu.Unlock()
	var err error
	select {
	case <-ch:
		return true, nil
	case <-stop:
	case <-ctx.Done():
		err = ctx.Err()
	}
	f.mu.Lock()
	for i, c := range f.q {
		if c == ch {
			f.q = append(f.q[:i], f.q[i+1:]...)
			f.mu.Unlock()
			return false, err
		}
	}
	// The turn came as the wait ended: pass it on.
	f.mu.Unlock()
	f.unlock()
	return false, err
}

// unlock gives the turn to the longest waiter.
func (f *fifo) unlock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.q) == 0 {
		f.held = false
		return
	}
	ch := f.q[0]
	f.q[0] = nil
	f.q = f.q[1:]
	close(ch)
}
