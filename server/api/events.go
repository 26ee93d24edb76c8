package api

import "sync"

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
