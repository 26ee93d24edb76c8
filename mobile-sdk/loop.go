package mobilesdk

import (
	"bufio"
	"context"
	"strings"
	"sync"
	"time"
)

// Backoff after failed syncs: the delay doubles from backoffBase up to
// backoffMax, and a random part ("equal jitter": half fixed, half random)
// spreads a fleet of phones that lost the server at the same moment.
const (
	backoffBase = 2 * time.Second
	backoffMax  = 5 * time.Minute
)

// backoff returns the wait before retry number failures (1, 2, ...), given
// r in [0,1).
func backoff(failures int, r float64) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + time.Duration(r*float64(d/2))
}

// loop is the background sync: it syncs when asked (a save, the host, the
// live channel, a push message, connectivity coming back) and retries with
// backoff after failures. Nothing runs until Start.
type loop struct {
	c    *Client
	kick chan struct{}

	mu            sync.Mutex
	running       bool
	stopCh        chan struct{}
	done          chan struct{}
	live          context.CancelFunc
	liveConnected bool
	syncing       bool
	failures      int
	retryAt       time.Time
	wiped         *wipeReport
	after         func(time.Duration) <-chan time.Time // injected timer
}

func newLoop(c *Client) *loop {
	return &loop{c: c, kick: make(chan struct{}, 1), after: time.After}
}

func (l *loop) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// localChange is called after each save: sync soon, if the loop runs.
func (l *loop) localChange() { l.poke() }

func (l *loop) info() (syncing bool, retryInMs, failures int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.retryAt.IsZero() {
		retryInMs = max(0, l.retryAt.Sub(l.c.now()).Milliseconds())
	}
	return l.syncing, retryInMs, int64(l.failures)
}

func (l *loop) wipeReport() *wipeReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wiped
}

func (l *loop) setWipeReport(r *wipeReport) {
	l.mu.Lock()
	l.wiped = r
	l.mu.Unlock()
}

func (l *loop) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return
	}
	l.running = true
	l.stopCh, l.done = make(chan struct{}), make(chan struct{})
	go l.run(l.stopCh, l.done)
	l.poke()
}

func (l *loop) stop() {
	l.mu.Lock()
	if !l.running {
		l.mu.Unlock()
		return
	}
	l.running = false
	close(l.stopCh)
	done := l.done
	if l.live != nil {
		l.live()
		l.live = nil
	}
	l.mu.Unlock()
	<-done
}

func (l *loop) stopLive() {
	l.mu.Lock()
	if l.live != nil {
		l.live()
		l.live = nil
	}
	l.mu.Unlock()
}

func (l *loop) run(stop, done chan struct{}) {
	defer close(done)
	var retry <-chan time.Time
	for {
		select {
		case <-stop:
			return
		case <-l.kick:
		case <-retry:
		}
		retry = nil
		if !l.c.online() {
			continue // ConnectivityChanged(true) pokes us
		}
		l.mu.Lock()
		l.syncing = true
		l.mu.Unlock()
		_, err := l.c.SyncNow()
		l.mu.Lock()
		l.syncing = false
		switch code := ErrorCode(err); {
		case err == nil:
			l.failures, l.retryAt = 0, time.Time{}
		case code == EWIPED || code == EREVOKED || code == ENOTENROLLED || code == EOFFLINE || code == EUNAUTHORIZED:
			// Nothing to retry until something changes (connectivity, or a
			// new enrolment: Status says enrol_again).
			l.failures, l.retryAt = 0, time.Time{}
		default:
			l.failures++
			d := backoff(l.failures, l.c.jitter())
			l.retryAt = l.c.now().Add(d)
			retry = l.after(d)
		}
		l.mu.Unlock()
		l.c.notify()
	}
}

// ---- the host's triggers ----

// Start runs the background sync loop and, when online, the live channel.
// The host calls it when the app comes to the foreground (or from a
// background task), and Stop when it leaves.
func (c *Client) Start() {
	c.loop.start()
	if c.online() {
		c.startLive()
	}
}

// Stop stops the background loop and the live channel.
func (c *Client) Stop() { c.loop.stop() }

// RequestSync asks the background loop to sync now (pull-to-refresh). Use
// SyncNow to sync on the caller's thread instead.
func (c *Client) RequestSync() { c.loop.poke() }

// ConnectivityChanged tells the SDK the network came or went. Coming back
// syncs at once and forgets the backoff.
func (c *Client) ConnectivityChanged(online bool) error {
	st, _, err := c.state(false)
	if err != nil {
		return err
	}
	v := "1"
	if online {
		v = ""
	}
	if err := st.SetMeta(map[string]string{"offline": v}); err != nil {
		return err
	}
	l := c.loop
	l.mu.Lock()
	running := l.running
	if online {
		l.failures, l.retryAt = 0, time.Time{}
	} else if l.live != nil {
		l.live()
		l.live = nil
	}
	l.mu.Unlock()
	if online && running {
		c.startLive()
		l.poke()
	}
	c.notify()
	return nil
}

// OnPushMessage is called with the data of a push notification (FCM/APNs).
// Push payloads carry no personal data: any message means "sync".
func (c *Client) OnPushMessage(data string) { c.loop.poke() }

func (c *Client) online() bool {
	st, _, err := c.state(false)
	if err != nil {
		return false
	}
	v, _ := st.Meta("offline")
	return v != "1"
}

// startLive opens the server-sent event channel (GET /v1/sync/events): each
// "changed" event pokes the loop. It reconnects with backoff until stopped.
func (c *Client) startLive() {
	l := c.loop
	st, _, err := c.state(true)
	if err != nil {
		return
	}
	server, _ := st.Meta("server_url")
	cred, err := st.Secret("credential")
	if err != nil || server == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	if l.live != nil || !l.running {
		l.mu.Unlock()
		cancel()
		return
	}
	l.live = cancel
	l.mu.Unlock()
	go func() {
		failures := 0
		for ctx.Err() == nil {
			ok := c.listen(ctx, server, cred)
			if ok {
				failures = 0
			} else {
				failures++
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff(max(failures, 1), c.jitter())):
			}
		}
	}()
}

// liveSilence is how long the live channel may stay silent before the phone
// takes it for dead and reconnects: the server sends a keep-alive every 25 s,
// and a link that died without a reset (a phone moving between masts, a NAT
// forgetting the connection) would otherwise hold a dead stream for ever.
const liveSilence = 90 * time.Second

// listen reads one SSE connection until it ends; it reports whether it connected.
func (c *Client) listen(ctx context.Context, server, cred string) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	status, body, err := c.link.events(ctx, server+"/v1/sync/events", cred)
	if err != nil {
		return false
	}
	defer body.Close()
	if status != 200 {
		// Revoked or unauthorized: a sync finds out what to do (wipe).
		c.loop.poke()
		return false
	}
	c.loop.setLive(true)
	defer c.loop.setLive(false)
	silence := c.liveSilence
	if silence <= 0 {
		silence = liveSilence
	}
	watchdog := time.AfterFunc(silence, cancel)
	defer watchdog.Stop()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		watchdog.Reset(silence)
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event:"); ok {
			switch strings.TrimSpace(ev) {
			case "changed", "ready":
				// "ready": something may have changed while we were not listening.
				c.loop.poke()
			}
		}
	}
	return true
}

func (l *loop) setLive(up bool) {
	l.mu.Lock()
	l.liveConnected = up
	l.mu.Unlock()
}

// liveUp reports whether the live channel is open (for tests and Status).
func (l *loop) liveUp() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.liveConnected
}
