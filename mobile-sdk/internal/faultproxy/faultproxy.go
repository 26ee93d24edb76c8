// Package faultproxy is a TCP proxy on loopback that makes a network as bad
// as a field worker's: it adds latency, limits bandwidth, cuts connections
// in the middle of a request or of a response, and resets a connection
// after a number of bytes. It stands between simulated phones and the real
// server in the SDK's fault-injection tests and the chaos soak.
//
// Faults act on bytes, not on HTTP: a cut "mid-request" is a connection
// closed with a TCP reset after a random number of the bytes the phone sent,
// which may fall in a request's headers, its body, or (on a kept-alive
// connection) a later request. The server can therefore have read, applied
// and acknowledged a push whose answer the phone never sees.
package faultproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Faults is what the proxy does to each new connection. The zero value
// forwards faithfully.
type Faults struct {
	// Latency delays the first chunk of each burst (bytes after a pause), in
	// each direction: a round trip costs about twice it, a long body once.
	Latency time.Duration
	// BytesPerSecond limits each direction of each connection (0: no limit).
	// 50 kbit/s is 6250.
	BytesPerSecond int
	// CutRequest and CutResponse are the chances (0..1) that a connection
	// is reset after a random number of bytes (below CutWindow) sent by the
	// phone, or by the server.
	CutRequest, CutResponse float64
	// CutWindow bounds where a cut falls (default 64 KiB).
	CutWindow int
	// ResetAfter resets every connection once this many bytes went through
	// it in both directions together (0: never).
	ResetAfter int64
	// Refuse closes new connections at once (the server "is down").
	Refuse bool
}

// Stats counts what the proxy did.
type Stats struct {
	Conns, Cuts, Resets, Refused int64
	BytesUp, BytesDown           int64
}

// Proxy forwards connections from its own loopback address to a target.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
	conns  map[*link]struct{}
	closed bool

	nConns, cuts, resets, refused, up, down atomic.Int64
	wg                                      sync.WaitGroup
}

// New listens on 127.0.0.1 (a free port) and forwards to target
// ("host:port"). seed makes the cut points reproducible.
func New(target string, seed uint64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, 0x6661756c74)), conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "host:port"; URL its http:// base.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }
func (p *Proxy) URL() string  { return "http://" + p.Addr() }

// Set replaces the faults applied to new connections (and the bandwidth,
// latency and refusal of open ones).
func (p *Proxy) Set(f Faults) {
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
}

// SetTarget points new connections at another address (a restarted server).
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *Proxy) current() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// CutAll resets every open connection now.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		p.cuts.Add(1)
		l.reset()
	}
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.nConns.Load(), Cuts: p.cuts.Load(), Resets: p.resets.Load(), Refused: p.refused.Load(),
		BytesUp: p.up.Load(), BytesDown: p.down.Load()}
}

// Close stops accepting, resets open connections and waits for them.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		f, target, closed := p.faults, p.target, p.closed
		l := &link{p: p, client: c}
		if f.CutRequest > 0 && p.rng.Float64() < f.CutRequest {
			l.cutUp = 1 + p.rng.Int64N(int64(window(f)))
		}
		if f.CutResponse > 0 && p.rng.Float64() < f.CutResponse {
			l.cutDown = 1 + p.rng.Int64N(int64(window(f)))
		}
		if !closed && !f.Refuse {
			p.conns[l] = struct{}{}
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if closed || f.Refuse {
			p.refused.Add(1)
			resetConn(c)
			continue
		}
		p.nConns.Add(1)
		go l.run(target)
	}
}

func window(f Faults) int {
	if f.CutWindow > 0 {
		return f.CutWindow
	}
	return 64 << 10
}

// link is one proxied connection.
type link struct {
	p              *Proxy
	client, server net.Conn
	cutUp, cutDown int64 // reset after this many bytes in that direction (0: never)
	total          atomic.Int64
	once           sync.Once
	mu             sync.Mutex // guards server, dead
	dead           bool       // reset or closed before the server side was dialled
}

func (l *link) run(target string) {
	defer l.p.wg.Done()
	defer func() {
		l.p.mu.Lock()
		delete(l.p.conns, l)
		l.p.mu.Unlock()
	}()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		l.p.refused.Add(1)
		resetConn(l.client)
		return
	}
	l.mu.Lock()
	l.server = server
	dead := l.dead
	l.mu.Unlock()
	if dead {
		resetConn(server)
		return
	}
	done := make(chan struct{}, 2)
	go func() { l.pump(l.client, server, l.cutUp, &l.p.up); done <- struct{}{} }()
	go func() { l.pump(server, l.client, l.cutDown, &l.p.down); done <- struct{}{} }()
	<-done
	<-done
	l.closeBoth()
}

// pump copies src to dst in small chunks, pacing them to the bandwidth limit
// and adding latency, and resets the link at its cut point.
func (l *link) pump(src, dst net.Conn, cutAt int64, counter *atomic.Int64) {
	buf := make([]byte, 4096)
	var sent int64
	var due, last time.Time // due: when the bytes forwarded so far may have gone at the limit
	for {
		f := l.p.current()
		chunk := buf
		if f.BytesPerSecond > 0 {
			// Small chunks keep the pacing smooth at low rates.
			chunk = buf[:min(len(buf), max(256, f.BytesPerSecond/20))]
		}
		if cutAt > 0 && int64(len(chunk)) > cutAt-sent {
			chunk = chunk[:cutAt-sent]
		}
		n, err := src.Read(chunk)
		if n > 0 {
			if f.Latency > 0 && time.Since(last) > f.Latency {
				time.Sleep(f.Latency)
			}
			if f.BytesPerSecond > 0 {
				// An idle link earns no credit: a burst after a pause is
				// paced like any other.
				due = later(due, time.Now()).Add(time.Duration(float64(n) / float64(f.BytesPerSecond) * float64(time.Second)))
				time.Sleep(time.Until(due))
			}
			if _, werr := dst.Write(chunk[:n]); werr != nil {
				l.reset()
				return
			}
			sent += int64(n)
			last = time.Now()
			counter.Add(int64(n))
			if cutAt > 0 && sent >= cutAt {
				l.p.cuts.Add(1)
				l.reset()
				return
			}
			if f.ResetAfter > 0 && l.total.Add(int64(n)) >= f.ResetAfter {
				l.p.resets.Add(1)
				l.reset()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Pass the half-close on; the other direction goes on.
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					return
				}
			}
			l.reset()
			return
		}
	}
}

// reset ends both sides with a TCP reset (SO_LINGER 0), as a dropped mobile
// link or a crashing middlebox does, rather than a clean FIN.
func (l *link) reset() {
	l.once.Do(func() {
		l.mu.Lock()
		server := l.server
		l.dead = true
		l.mu.Unlock()
		resetConn(l.client)
		if server != nil {
			resetConn(server)
		}
	})
}

func (l *link) closeBoth() {
	l.once.Do(func() {
		l.mu.Lock()
		server := l.server
		l.dead = true
		l.mu.Unlock()
		l.client.Close()
		if server != nil {
			server.Close()
		}
	})
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
