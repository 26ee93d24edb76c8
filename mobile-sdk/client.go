package mobilesdk

import (
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// Listener receives events from the client. Callbacks run on the SDK's own
// goroutines (never the UI thread): hosts post them to their main thread.
type Listener interface {
	// OnStatus is called with Status() JSON whenever it may have changed.
	OnStatus(statusJSON string)
	// OnWiped is called once the device destroyed its local data because the
	// server said so; reportJSON lists what was removed. The host must then
	// delete the at-rest key from the keystore and return to enrolment.
	OnWiped(reportJSON string)
}

// ProgressListener follows a sync round trip by round trip (for a progress
// bar). progressJSON: {"phase":"pushed"|"stored"|"applied", "round_trip", "pushed",
// "acknowledged", "received", "more"}; "applied" also carries "done",
// "total" and "fraction" of the pull as SyncProgress reports them.
type ProgressListener interface {
	OnSyncProgress(progressJSON string)
}

// Client is one phone: its local database, its replica and its sync loop.
// Its methods are safe for concurrent use.
type Client struct {
	platform string

	mu       sync.Mutex // guards st, rep, wiped, listener
	st       localstore.Store
	rep      *syncengine.Replica
	wiped    bool
	listener Listener
	progress ProgressListener
	sizes    linkSizes // push batch and pull page budgets, adapted to the link
	// fieldWeeks: weeks of encounters a first sync asks for (fetch.go).
	fieldWeeks    int64
	fieldWeeksSet bool

	syncMu sync.Mutex // one sync at a time
	editMu sync.Mutex // a save and the storing of a sync page exclude each other
	loop   *loop

	// Injected for tests; production uses the system's.
	now     func() time.Time
	ids     io.Reader      // record ids
	jitter  func() float64 // backoff jitter in [0,1)
	link    link
	timeout time.Duration // one round trip (SetRequestTimeout)
	// liveSilence: a live channel silent this long is reconnected (0: the
	// default, liveSilence).
	liveSilence time.Duration
	offset      atomic.Int64 // server's clock minus the phone's, in ns (see clock.go)
	lang        atomic.Value // string: the app's language, sent as Accept-Language (SetLanguage)
	ownClock    bool         // tests: never learn the offset
}

type options struct {
	now         func() time.Time
	ids         io.Reader
	jitter      func() float64
	link        link
	liveSilence time.Duration
	// ownClock: never go by the server's clock. For tests whose server
	// runs on an injected clock, which its Date header does not show.
	ownClock bool
}

func (o *options) defaults() {
	if o.now == nil {
		o.now = time.Now
	}
	if o.ids == nil {
		o.ids = rand.Reader
	}
	if o.jitter == nil {
		o.jitter = mrand.Float64
	}
	if o.link == nil {
		o.link = defaultLink()
	}
}

// newClient is the one client over either store: the native apps' SQLite
// (Open) and the browser's IndexedDB (OpenStore, GOOS=js).
func newClient(st localstore.Store, platform string, o options) (*Client, error) {
	o.defaults()
	if platform == "" {
		platform = "sim"
	}
	c := &Client{platform: platform, st: st, now: o.now, ids: o.ids, jitter: o.jitter, link: o.link, timeout: 60 * time.Second, sizes: newLinkSizes(pushBudget, pageBytes),
		liveSilence: o.liveSilence, ownClock: o.ownClock}
	c.loop = newLoop(c)
	if err := c.loadClockOffset(); err != nil {
		st.Close()
		return nil, err
	}
	if self, err := st.Meta("replica_id"); err != nil {
		st.Close()
		return nil, err
	} else if self != "" {
		if err := c.startReplica(); err != nil {
			st.Close()
			return nil, err
		}
	}
	return c, nil
}

// metaInt reads a number kept in meta (0 when unset).
func metaInt(st localstore.Store, key string) (int64, error) {
	v, err := st.Meta(key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, syncengine.Errorf(ECORRUPT, "read meta", "meta %s is not a number", key)
	}
	return n, nil
}

// startReplica builds the engine replica from persisted meta and re-applies
// changesets that were received but not applied before the app last stopped.
func (c *Client) startReplica() error {
	self, err := c.st.Meta("replica_id")
	if err != nil {
		return err
	}
	id, err := syncengine.ParseReplicaID(self)
	if err != nil {
		return syncengine.Errorf(ECORRUPT, "open", "stored replica id is not valid")
	}
	counter, err := metaInt(c.st, "counter")
	if err != nil {
		return err
	}
	hlc, err := metaInt(c.st, "hlc")
	if err != nil {
		return err
	}
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: c.clock, Rand: c.ids, Store: c.st,
		Counter: uint64(counter), Clock: syncengine.Timestamp(hlc)})
	if err != nil {
		return err
	}
	c.rep = rep
	return c.applyInbox()
}

// Close stops the sync loop and closes the database. Nothing is lost: every
// save was durable when it returned.
func (c *Client) Close() error {
	c.loop.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wiped || c.st == nil {
		return nil
	}
	err := c.st.Close()
	c.st = nil
	return err
}

// SetProgressListener registers a progress callback (nil to remove).
func (c *Client) SetProgressListener(p ProgressListener) {
	c.mu.Lock()
	c.progress = p
	c.mu.Unlock()
}

// SetPageBytes sets the most bytes the server may send per pull page
// (default 512 KiB). Pages shrink below it by themselves on a link too slow
// for them (see linkSizes); a host sets it lower to start small.
func (c *Client) SetPageBytes(n int64) {
	c.mu.Lock()
	c.sizes.setMaxPage(int(max(minPageBytes, min(n, 8<<20))))
	c.mu.Unlock()
}

func (c *Client) reportProgress(phase string, roundTrip, pushed, acked, received int, more bool) {
	c.mu.Lock()
	p := c.progress
	c.mu.Unlock()
	if p != nil {
		m := map[string]any{"phase": phase, "round_trip": roundTrip, "pushed": pushed,
			"acknowledged": acked, "received": received, "more": more}
		if phase == "applied" {
			if sp, err := c.SyncProgress(); err == nil {
				m["done"], m["total"], m["fraction"] = sp.Done, sp.Total, sp.Fraction
			}
		}
		p.OnSyncProgress(mustJSON(m))
	}
}

// SetListener registers the host's callbacks (nil to remove).
func (c *Client) SetListener(l Listener) {
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
}

func (c *Client) notify() {
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l != nil {
		if s, err := c.Status(); err == nil {
			l.OnStatus(s)
		}
	}
}

// state returns the open store and replica, or why there are none.
func (c *Client) state(needReplica bool) (localstore.Store, *syncengine.Replica, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.wiped:
		return nil, nil, errorf(EWIPED, "", "this device was wiped; enrol again")
	case c.st == nil:
		return nil, nil, errorf(syncengine.EINVALID, "", "client is closed")
	case needReplica && c.rep == nil:
		return nil, nil, errorf(ENOTENROLLED, "", "enrol this device first")
	}
	return c.st, c.rep, nil
}

// PersonID is the worker this device belongs to ("" before enrolment).
func (c *Client) PersonID() string {
	st, _, err := c.state(false)
	if err != nil {
		return ""
	}
	v, _ := st.Meta("person_id")
	return v
}

// ---- status ----

// Status is what the UI shows about sync, as JSON (see statusView).
func (c *Client) Status() (string, error) {
	c.mu.Lock()
	wiped, st := c.wiped, c.st
	c.mu.Unlock()
	if wiped {
		return mustJSON(statusView{Wiped: true, WipeReport: c.loop.wipeReport()}), nil
	}
	if st == nil {
		return "", errorf(syncengine.EINVALID, "", "client is closed")
	}
	v := statusView{Quarantined: []localstore.Quarantined{}}
	var err error
	meta := func(k string) string {
		s, e := st.Meta(k)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	v.DeviceID, v.PersonID, v.ReplicaID, v.Server = meta("device_id"), meta("person_id"), meta("replica_id"), meta("server_url")
	v.Enrolled = v.ReplicaID != ""
	v.EnrolAgain = meta("credential_refused") == "1"
	v.Online = meta("offline") != "1"
	v.LastError, v.LastErrorCode = meta("last_error"), meta("last_error_code")
	if ms, e := metaInt(st, "last_synced"); e == nil && ms > 0 {
		v.LastSyncedMs = ms
		v.LastSynced = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	n, err := st.Counts()
	if err != nil {
		return "", err
	}
	v.PendingChangesets, v.PendingBytes, v.HeldChangesets = n.Outbox, n.OutboxBytes, n.Inbox
	if v.Quarantined, err = st.Quarantined(); err != nil {
		return "", err
	}
	v.Syncing, v.RetryInMs, v.Failures = c.loop.info()
	return mustJSON(v), err
}

type statusView struct {
	Enrolled bool `json:"enrolled"`
	// The server refuses this phone's credential (restored from an older
	// backup, or the enrolment was re-issued): the host asks for a new code
	// and calls Enrol; the phone keeps and re-sends its work.
	EnrolAgain        bool                     `json:"enrol_again,omitempty"`
	Wiped             bool                     `json:"wiped,omitempty"`
	WipeReport        *wipeReport              `json:"wipe_report,omitempty"`
	DeviceID          string                   `json:"device_id,omitempty"`
	PersonID          string                   `json:"person_id,omitempty"`
	ReplicaID         string                   `json:"replica_id,omitempty"`
	Server            string                   `json:"server,omitempty"`
	Online            bool                     `json:"online"`
	Syncing           bool                     `json:"syncing"`
	PendingChangesets int64                    `json:"pending_changesets"` // saves not yet acknowledged by the server
	PendingBytes      int64                    `json:"pending_bytes"`
	HeldChangesets    int64                    `json:"held_changesets"` // received, waiting for what they depend on
	LastSynced        string                   `json:"last_synced,omitempty"`
	LastSyncedMs      int64                    `json:"last_synced_ms,omitempty"`
	LastError         string                   `json:"last_error,omitempty"`
	LastErrorCode     string                   `json:"last_error_code,omitempty"`
	Failures          int64                    `json:"failures,omitempty"`    // consecutive failed syncs
	RetryInMs         int64                    `json:"retry_in_ms,omitempty"` // when the loop tries again
	Quarantined       []localstore.Quarantined `json:"quarantined"`
}

// unsynced counts the saves the server may not hold: the outbox and, while
// the server refuses this phone's credential (it may have been restored from
// a backup older than them), the saves it had acknowledged.
func unsynced(st localstore.Store) (int64, error) {
	n, err := st.Counts()
	if err != nil {
		return 0, err
	}
	if refused, err := st.Meta("credential_refused"); err != nil {
		return 0, err
	} else if refused == "1" {
		return n.Outbox + n.SentOnly, nil
	}
	return n.Outbox, nil
}

// ---- logout and wipe ----

// Logout removes this worker's data and credential from the phone. If saves
// may not be on the server it refuses with code unsynced_work (the UI warns,
// syncs, or asks the worker to confirm with force=true). Saves the server
// acknowledged count as unsynced while it refuses this phone's credential:
// it may have been restored from a backup that predates them (enrol again
// with a new code instead: that keeps and re-sends them).
func (c *Client) Logout(force bool) (string, error) {
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	n, err := unsynced(st)
	if err != nil {
		return "", err
	}
	if n > 0 && !force {
		return "", errorf(EUNSYNCED, "logout", "%d saves have not reached the server yet; sync first or force", n)
	}
	c.loop.stop()
	c.forgetPushToken()
	rep, err := c.destroy("logout")
	if err != nil {
		return "", err
	}
	return mustJSON(rep), nil
}

// wipeReport says what a wipe removed and whether it checked.
type wipeReport struct {
	Reason   string   `json:"reason"`
	At       string   `json:"at"`
	Removed  []string `json:"removed"`
	Verified bool     `json:"verified"` // none of the files exists afterwards
	Lost     int64    `json:"unsynced_lost"`
	// The server was told (POST /v1/sync/wiped) and recorded it.
	ServerConfirmed bool `json:"server_confirmed"`
}

// destroy wipes the local store (localstore.Store.Wipe: the SQLite file with
// its WAL and SHM files, or the IndexedDB database with its key) and checks
// that nothing remains.
func (c *Client) destroy(reason string) (*wipeReport, error) {
	c.loop.stopLive()
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wiped {
		return c.loop.wipeReport(), nil
	}
	rep := &wipeReport{Reason: reason, At: c.now().UTC().Format(time.RFC3339), Removed: []string{}}
	var err error
	if c.st != nil {
		rep.Lost, _ = unsynced(c.st)
		var removed []string
		removed, err = c.st.Wipe()
		rep.Removed = append(rep.Removed, removed...)
		c.st = nil
	}
	c.rep = nil
	rep.Verified = err == nil
	c.wiped = true
	c.loop.setWipeReport(rep)
	return rep, err
}

// wipe destroys local data on the server's instruction, tells the server it
// did (with the credential kept in memory just for that) and tells the host.
func (c *Client) wipe() {
	var server, cred string
	if st, _, err := c.state(false); err == nil {
		server, _ = st.Meta("server_url")
		cred, _ = st.Secret("credential")
	}
	rep, _ := c.destroy("revoked")
	if server != "" && cred != "" && rep != nil && rep.Verified {
		_, err := c.call(context.Background(), server+"/v1/sync/wiped", cred, "application/json", []byte("{}"), func([]byte) error { return nil })
		rep.ServerConfirmed = err == nil
	}
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l != nil {
		l.OnWiped(mustJSON(rep))
	}
}

// ---- inbox ----

// applyInbox applies every held changeset; the replica holds those whose
// dependencies are still missing, and they stay in the inbox until applied.
func (c *Client) applyInbox() error {
	css, err := c.st.Inbox()
	if err != nil {
		return err
	}
	return c.st.Batch(func() error {
		for _, cs := range css {
			if err := c.applyReceived(cs); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Client) applyReceived(cs *syncengine.Changeset) error {
	st, applyErr := c.rep.Apply(cs)
	if applyErr != nil {
		if syncengine.ErrorCode(applyErr) == syncengine.EINTERNAL {
			return applyErr
		}
		// It can never apply here: keep it, with why, rather than lose it.
		return c.st.Write(&localstore.Batch{At: c.now().UnixMilli(), Refuse: []localstore.Refusal{{
			Key:  localstore.Key{Queue: localstore.QueueInbox, Replica: cs.Replica.String(), Start: cs.Start},
			Code: syncengine.ErrorCode(applyErr), Message: syncengine.ErrorMessage(applyErr)}}})
	}
	if st == syncengine.Duplicate {
		return c.st.Write(&localstore.Batch{Unhold: []localstore.Key{{Queue: localstore.QueueInbox, Replica: cs.Replica.String(), Start: cs.Start}}})
	}
	return nil
}
