package mobilesdk

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Push and pull budgets per round trip. One round trip carries a whole small
// sync; larger ones page.
const (
	pushBudget = 512 << 10
	pageBytes  = 512 << 10
	maxPages   = 10000
)

// Enrol exchanges a one-time code from a supervisor for this device's
// identity and credential. It returns the person id the device belongs to.
//
// A phone whose credential the server no longer accepts (the server was
// restored from a backup that predates the phone, or an administrator
// re-issued its enrolment) is enrolled again with a new code for the same
// person, without logging out: it keeps its replica id (sent in the request
// so the server registers it), its outbox and its sent queue, and re-sends
// them all at the next sync; the server drops what it already holds as
// duplicates.
//
// A retry after a lost answer (a network error) sends the same install_id
// with the same code, so the server can answer it again instead of using up
// the code on a device nobody holds.
func (c *Client) Enrol(serverURL, code string) (string, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	replica, _ := st.Meta("replica_id")
	if replica != "" {
		if refused, _ := st.Meta("credential_refused"); refused != "1" {
			return "", errorf(syncengine.ECONFLICT, "enrol", "this device is already enrolled; log out first")
		}
	}
	install, err := c.installID(st)
	if err != nil {
		return "", err
	}
	serverURL = strings.TrimRight(serverURL, "/")
	req := map[string]string{"code": code, "platform": c.platform, "install_id": install}
	if replica != "" {
		req["replica_id"] = replica
	}
	body, _ := json.Marshal(req)
	var e struct {
		DeviceID   string `json:"device_id"`
		ReplicaID  string `json:"replica_id"`
		Credential string `json:"credential"`
		PersonID   string `json:"person_id"`
		Role       string `json:"role"`
		TeamID     string `json:"team_id"`
		ServiceID  string `json:"service_id"`
	}
	if _, err := c.call(context.Background(), serverURL+"/v1/enrol", "", "application/json", body, func(b []byte) error {
		return json.Unmarshal(b, &e)
	}); err != nil {
		return "", err
	}
	_, err = syncengine.ParseReplicaID(e.ReplicaID)
	if err != nil || e.Credential == "" || e.PersonID == "" {
		return "", errorf(EPROTOCOL, "enrol", "the server's enrolment answer is incomplete")
	}
	if replica != "" {
		// Re-enrolment: the saves queued and sent under this replica id are
		// only accepted if the server registered the same id for the same
		// person; anything else would strand them.
		if me, _ := st.Meta("person_id"); e.PersonID != me {
			return "", errorf(syncengine.ECONFLICT, "enrol", "the code is for another person than this phone's; log out first")
		}
		if e.ReplicaID != replica {
			return "", errorf(EPROTOCOL, "enrol", "the server did not keep this phone's replica id; its unsent work would be refused (update the server, or log out)")
		}
	}
	meta := map[string]string{"replica_id": e.ReplicaID, "device_id": e.DeviceID, "person_id": e.PersonID,
		"role": e.Role, "enrol_team_id": e.TeamID, "service_id": e.ServiceID,
		"server_url": serverURL, "last_error": "", "last_error_code": "", "credential_refused": ""}
	if replica == "" {
		meta["cursor"], meta["counter"] = "", "0"
	}
	// Re-enrolment sends everything again (the server may hold none of it)
	// and starts from a snapshot of what it holds now.
	err = st.Write(&localstore.Batch{Resend: replica != "", Meta: meta, Secrets: map[string]string{"credential": e.Credential}})
	if err != nil {
		return "", err
	}
	if replica == "" {
		c.mu.Lock()
		err = c.startReplica()
		c.mu.Unlock()
		if err != nil {
			return "", err
		}
	}
	c.notify()
	return e.PersonID, nil
}

// syncSummary is what SyncNow returns, as JSON.
type syncSummary struct {
	RoundTrips    int   `json:"round_trips"`
	Pushed        int   `json:"pushed"`
	Accepted      int   `json:"accepted"`
	Duplicates    int   `json:"duplicates"`
	Quarantined   int   `json:"quarantined"`
	Changesets    int   `json:"changesets_received"`
	Snapshots     int   `json:"snapshots_received"`
	Compacted     int   `json:"compacted_taken,omitempty"` // compacted states that replaced a copy
	Dropped       int   `json:"dropped"`
	Reset         bool  `json:"reset,omitempty"`
	BytesUp       int64 `json:"bytes_up"`
	BytesDown     int64 `json:"bytes_down"`
	StillHeld     int64 `json:"held_changesets"`
	StillPending  int64 `json:"pending_changesets"`
	DurationMilli int64 `json:"duration_ms"`
}

// SyncNow pushes every queued save (oldest first) and pulls until the server
// has nothing more, applying as it goes. Each page is stored with its cursor
// in one transaction, so an interrupted sync resumes where it stopped and
// never applies or sends anything twice. It returns a summary as JSON.
func (c *Client) SyncNow() (string, error) {
	c.syncMu.Lock()
	sum, err := c.syncNow(context.Background())
	c.recordOutcome(err)
	c.syncMu.Unlock()
	if err != nil {
		if ErrorCode(err) == EREVOKED && c.wipeRequested(err) {
			c.wipe()
		}
		return "", err
	}
	return mustJSON(sum), nil
}

func (c *Client) recordOutcome(err error) {
	st, _, serr := c.state(false)
	if serr != nil {
		return
	}
	if err == nil {
		st.SetMeta(map[string]string{"last_synced": strconv.FormatInt(c.now().UnixMilli(), 10), "last_error": "", "last_error_code": ""})
	} else if code := ErrorCode(err); code != EREVOKED {
		m := map[string]string{"last_error": ErrorMessage(err), "last_error_code": code}
		if code == EUNAUTHORIZED {
			// The server does not know this phone's credential: it may have
			// been restored from a backup older than the phone, so what it
			// acknowledged is not certain any more (see Logout), and the
			// phone may be enrolled again without losing its work.
			m["credential_refused"] = "1"
		}
		st.SetMeta(m)
	}
	c.notify()
}

// keepSent is how long acknowledged saves are kept to be sent again after a
// server restore (the server's own history retention is the same).
const keepSent = 30 * 24 * time.Hour

func (c *Client) syncNow(ctx context.Context) (*syncSummary, error) {
	start := time.Now()
	st, _, err := c.state(true)
	if err != nil {
		return nil, err
	}
	if off, _ := st.Meta("offline"); off == "1" {
		return nil, errorf(EOFFLINE, "sync", "the device is offline")
	}
	server, _ := st.Meta("server_url")
	cred, err := st.Secret("credential")
	if err != nil {
		return nil, err
	}
	if err := st.Write(&localstore.Batch{PruneSentBefore: c.now().Add(-keepSent).UnixMilli()}); err != nil {
		return nil, err
	}
	sum := &syncSummary{}
	recovered := false
	for page := 0; page < maxPages; page++ {
		more, err := c.roundTrip(ctx, st, server, cred, sum)
		if errors.Is(err, errSmaller) {
			page--
			continue
		}
		if ErrorCode(err) == ECURSORAHEAD && !recovered {
			// The server was restored from a backup and lost what it had
			// acknowledged since: send our recent saves again and start
			// from a snapshot. Saves it still has come back as duplicates.
			recovered = true
			if err := st.Write(&localstore.Batch{Resend: true, Meta: map[string]string{"cursor": ""}}); err != nil {
				return sum, err
			}
			page--
			continue
		}
		if err != nil {
			return sum, err
		}
		if !more {
			break
		}
	}
	if err := c.purgeAndConfirm(ctx, st, server, cred, sum); err != nil {
		return sum, err
	}
	if n, err := st.Counts(); err == nil {
		sum.StillPending, sum.StillHeld = n.Outbox, n.Inbox
	}
	sum.DurationMilli = time.Since(start).Milliseconds()
	return sum, nil
}

// errSmaller: the round trip was too big for the link; try again at once
// with the smaller sizes.
var errSmaller = errors.New("round trip too big for the link")

// roundTrip sends one request (the next outbox batch, the cursor) and stores
// what came back. It reports whether another round trip is needed.
func (c *Client) roundTrip(ctx context.Context, st localstore.Store, server, cred string, sum *syncSummary) (bool, error) {
	c.mu.Lock()
	budget, page := c.sizes.push, c.sizes.page
	c.mu.Unlock()
	batch, err := st.Outbox(budget)
	if err != nil {
		return false, err
	}
	counts, err := st.Counts()
	if err != nil {
		return false, err
	}
	total, held := counts.Outbox, counts.Inbox
	cursor, err := st.Meta("cursor")
	if err != nil {
		return false, err
	}
	frames := make([][]byte, len(batch))
	pushed := 0
	for i, e := range batch {
		frames[i] = e.Body
		pushed += len(e.Body)
	}
	purged := purgesToConfirm(st)
	dirVersion, _ := st.Meta("directory_version")
	rosterVersion, _ := st.Meta("roster_version")
	// A phone back with more saves than one round trip carries sends all
	// but the last batch push-only and pulls with the last: the server
	// then writes the records of many such requests at once
	// (server/sqlite/behind.go), and nothing it would have sent is lost,
	// since the last round trip pulls from the same cursor. A phone with
	// no cursor yet pulls at once: its snapshot comes first.
	noPull := cursor != "" && int64(len(batch)) < total
	// A phone showing refused saves asks which the server has not applied,
	// so none is taken for released before a reviewer releases it (released).
	askKept := counts.Quarantined > 0
	body, err := protocol.Encode(protocol.Request{Cursor: cursor, Pending: held, PageBytes: page, Purged: purged, NoPull: noPull,
		FieldWeeks: c.fieldWeeksNow(), DirectoryVersion: dirVersion, RosterVersion: rosterVersion, KeptAside: askKept}, frames)
	if err != nil {
		return false, err
	}
	var hdr protocol.Response
	var groups [][][]byte
	began, timeout := time.Now(), c.requestTimeout()
	n, err := c.call(ctx, server+"/v1/sync", cred, protocol.ContentType, body, func(b []byte) error {
		var err error
		groups, err = protocol.Decode(b, &hdr, 2)
		return err
	})
	took := time.Since(began)
	sum.RoundTrips++
	sum.BytesUp += int64(len(body))
	sum.BytesDown += int64(n)
	if err != nil {
		if tooSlow(err, took, timeout) {
			c.mu.Lock()
			shrank := c.sizes.failed(pushed, len(batch), n)
			c.mu.Unlock()
			if shrank {
				return false, errSmaller
			}
		}
		return false, err
	}
	c.mu.Lock()
	c.sizes.succeeded(took, timeout)
	c.mu.Unlock()
	if noPull {
		hdr.Cursor = cursor // a push-only answer moves no position
	}
	sum.Pushed += len(batch)
	c.reportProgress("pushed", sum.RoundTrips, len(batch), 0, len(groups[0])+len(groups[1]), hdr.More)
	acked := sum.Accepted + sum.Duplicates + sum.Quarantined
	received, refused, err := c.storePage(st, batch, &hdr, groups[0], groups[1], sum, purged, askKept)
	if err != nil {
		return false, err
	}
	acked = sum.Accepted + sum.Duplicates + sum.Quarantined - acked
	c.reportProgress("stored", sum.RoundTrips, len(batch), acked, len(received), hdr.More)
	if err := c.applyPage(received); err != nil {
		return false, err
	}
	c.reportProgress("applied", sum.RoundTrips, len(batch), acked, len(received), hdr.More)
	return hdr.More || refused || int64(len(batch)) < total, nil
}

// storePage stores one response in one transaction: acknowledgements
// (acknowledged saves leave the outbox; refused ones go to quarantine),
// drops, snapshots, received changesets (into the inbox, applied right
// after), and the new cursor. It returns the received changesets to apply.
// What to write is worked out first, under editMu (nothing else writes
// meanwhile), then written as one localstore.Batch. askedKept: the request
// asked which refused saves the server has not applied (hdr.KeptAside).
func (c *Client) storePage(st localstore.Store, batch []localstore.Entry, hdr *protocol.Response, csFrames, snapFrames [][]byte, sum *syncSummary, purged []string, askedKept bool) (received []*syncengine.Changeset, refused bool, err error) {
	// Decode everything before touching the database: a bad page stores nothing.
	var incoming []*syncengine.Changeset
	for _, f := range csFrames {
		css, err := syncengine.DecodeChangesets(f)
		if err != nil {
			return nil, false, errorf(EPROTOCOL, "sync", "the server sent a changeset that does not decode")
		}
		incoming = append(incoming, css...)
	}
	var snaps []*syncengine.Record
	for _, f := range snapFrames {
		recs, err := syncengine.DecodeSnapshot(f)
		if err != nil {
			return nil, false, errorf(EPROTOCOL, "sync", "the server sent a snapshot that does not decode")
		}
		snaps = append(snaps, recs...)
	}
	inBatch := map[uint64]bool{}
	for _, e := range batch {
		inBatch[e.Start] = true
	}
	c.editMu.Lock()
	defer c.editMu.Unlock()
	self, err := st.Meta("replica_id")
	if err != nil {
		return nil, false, err
	}
	wasPartial, err := st.Meta("partial")
	if err != nil {
		return nil, false, err
	}
	// Records the changesets waiting in the inbox touch (see HeldPart below).
	coming := map[syncengine.RecordID]bool{}
	if (wasPartial == "1" || hdr.Partial) && len(incoming) > 0 {
		waiting, err := st.Inbox()
		if err != nil {
			return nil, false, err
		}
		for _, cs := range waiting {
			for _, d := range cs.Deps {
				coming[d.Record] = true
			}
		}
	}
	b := &localstore.Batch{At: c.now().UnixMilli(), Meta: map[string]string{}}
	if err := notePurges(st, b.Meta, purged, hdr.Erase); err != nil {
		return nil, false, err
	}
	acked := map[uint64]bool{}
	for _, r := range hdr.Results {
		if r.Replica != self || !inBatch[r.Start] {
			continue
		}
		switch r.Status {
		case protocol.StatusAccepted:
			sum.Accepted++
		case protocol.StatusDuplicate:
			sum.Duplicates++
		case protocol.StatusQuarantined:
			sum.Quarantined++
			refused = true
			b.Refuse = append(b.Refuse, localstore.Refusal{Key: localstore.Key{Queue: localstore.QueueOutbox, Start: r.Start},
				Code: r.Code, Message: r.Message})
			continue
		default:
			continue // an answer this SDK does not know: keep it queued
		}
		acked[r.Start] = true
		b.Ack = append(b.Ack, r.Start)
	}
	if refused {
		// The local records include the refused save; the server's do
		// not. Start again from a snapshot so the phone shows what the
		// server holds (the rest of the outbox is replayed on top). This
		// page was computed from the old cursor: drop it.
		b.Meta["reset_pending"], b.Meta["cursor"] = "1", ""
		return nil, true, st.Write(b)
	}
	pendingReset, err := st.Meta("reset_pending")
	if err != nil {
		return nil, false, err
	}
	reset := hdr.Reset || pendingReset == "1"
	if reset {
		sum.Reset = true
		b.Reset = true
		b.Meta["reset_pending"] = ""
	}
	// v is the records as they will be once b is written.
	v := newOverlay(st, reset)
	for _, id := range hdr.Drop {
		b.Drop = append(b.Drop, syncengine.RecordID(id))
		v.drop(syncengine.RecordID(id))
		sum.Dropped++
	}
	rebase := make(map[syncengine.RecordID]bool, len(hdr.Rebase))
	for _, id := range hdr.Rebase {
		rebase[syncengine.RecordID(id)] = true
	}
	tentative := map[syncengine.RecordID]*syncengine.Record{} // compacted states taken over a copy with unsent saves: the copy
	compacted := make(map[syncengine.RecordID]bool, len(hdr.Compacted))
	for _, id := range hdr.Compacted {
		compacted[syncengine.RecordID(id)] = true
	}
	for _, snap := range snaps {
		local, err := v.get(snap.ID)
		if err != nil {
			return nil, false, err
		}
		if compacted[snap.ID] && !rebase[snap.ID] {
			// Sent only because the server dropped deleted characters no
			// replica still needs (protocol.Response.Compacted): the same
			// content in less space. A record this phone does not hold
			// stays unheld. Over a copy with nothing the server's lacks it
			// is taken; over a copy with unsent saves on the record, only
			// if those saves apply again on top of it (replayOutbox, then
			// checked below): one naming a character the server dropped
			// cannot, and then the copy is kept whole.
			if local == nil {
				continue
			}
			if _, ok := tentative[snap.ID]; ok {
				// Another compacted state of it came earlier in this page:
				// the copy to check against stays the phone's own.
			} else if !snap.VV.Covers(local.VV) {
				tentative[snap.ID] = local
			} else {
				sum.Compacted++
			}
			v.putRecord(snap)
			continue
		}
		if local != nil && local.VV.Covers(snap.VV) && !rebase[snap.ID] {
			continue // this phone already has all of it
		}
		// A rebase replaces even a copy that covers it: the server placed
		// a late text edit its own way (protocol.Response.Rebase).
		v.putRecord(snap)
	}
	sum.Snapshots += len(snaps)
	if askedKept {
		b.Meta["kept_aside"] = encodeKept(self, hdr.KeptAside)
	}
	if len(snaps) > 0 {
		kept := b.Meta["kept_aside"]
		if !askedKept {
			kept, _ = st.Meta("kept_aside")
		}
		if b.Release, err = released(st, self, v.get, decodeKept(kept)); err != nil {
			return nil, false, err
		}
	}
	if len(snaps) > 0 || reset {
		if err := replayOutbox(st, acked, v); err != nil {
			return nil, false, err
		}
	}
	for id, copy := range tentative {
		// The copy's every change must be in what replaces it: the
		// server's, and the unsent saves applied again.
		if r, err := v.get(id); err != nil {
			return nil, false, err
		} else if r == nil || !r.VV.Covers(copy.VV) {
			v.putRecord(copy)
		} else {
			sum.Compacted++
		}
	}
	partial := wasPartial
	wasCursor, err := st.Meta("cursor")
	if err != nil {
		return nil, false, err
	}
	if hdr.Reset || wasCursor == "" {
		// A snapshot starts (new, re-enrolled, reset, or a server restore):
		// whether it is the field subset, and the background paging of
		// older records, start again with it.
		partial = ""
		b.Meta["field_seq"], b.Meta["older_after"], b.Meta["older_done"] = "", "", ""
	}
	if hdr.FieldSeq > 0 {
		b.Meta["field_seq"] = strconv.FormatInt(hdr.FieldSeq, 10)
	}
	if hdr.Partial {
		partial = "1"
		b.Meta["field_since"] = strconv.FormatInt(hdr.FieldSince, 10)
	}
	b.Meta["partial"] = partial
	for _, cs := range incoming {
		if partial == "1" {
			// Ops on older records this phone never received wait for a
			// fetch of the record, which brings them whole. A record an
			// earlier changeset (of this page, or waiting in the inbox)
			// touches is on its way, not old.
			part, ok := protocol.HeldPart(cs, func(id syncengine.RecordID) bool {
				if coming[id] {
					return true
				}
				r, err := v.get(id)
				return err == nil && r != nil
			})
			if !ok {
				continue
			}
			cs = part
			for _, d := range cs.Deps {
				coming[d.Record] = true
			}
		}
		received = append(received, cs)
	}
	b.Put = v.puts()
	b.Hold = received
	sum.Changesets += len(incoming)
	if hdr.Directory != nil {
		b.Meta["directory"] = mustJSON(hdr.Directory.Services)
		b.Meta["directory_version"] = hdr.Directory.Version
	}
	if hdr.Roster != nil {
		b.Meta["roster"] = mustJSON(hdr.Roster.Workers)
		b.Meta["roster_version"] = hdr.Roster.Version
	}
	if err := noteProgress(st, b.Meta, hdr); err != nil {
		return nil, false, err
	}
	b.Meta["cursor"] = hdr.Cursor
	if err := st.Write(b); err != nil {
		return nil, false, err
	}
	if reset {
		// Changesets the replica held in memory belong to the old state.
		c.mu.Lock()
		err = c.startReplica()
		c.mu.Unlock()
		if err != nil {
			return nil, false, err
		}
	}
	return received, false, nil
}

// overlay reads records as they will be after a batch's resets, drops and
// puts, before it is written.
type overlay struct {
	st      localstore.Store
	reset   bool
	dropped map[syncengine.RecordID]bool
	put     map[syncengine.RecordID]*syncengine.Record
	order   []syncengine.RecordID
}

func newOverlay(st localstore.Store, reset bool) *overlay {
	return &overlay{st: st, reset: reset, dropped: map[syncengine.RecordID]bool{}, put: map[syncengine.RecordID]*syncengine.Record{}}
}

func (o *overlay) get(id syncengine.RecordID) (*syncengine.Record, error) {
	if r, ok := o.put[id]; ok {
		return r, nil
	}
	if o.reset || o.dropped[id] {
		return nil, nil
	}
	return o.st.Record(id)
}

func (o *overlay) drop(id syncengine.RecordID) { o.dropped[id] = true }

func (o *overlay) putRecord(r *syncengine.Record) {
	if _, ok := o.put[r.ID]; !ok {
		o.order = append(o.order, r.ID)
	}
	o.put[r.ID] = r
}

func (o *overlay) puts() []*syncengine.Record {
	out := make([]*syncengine.Record, len(o.order))
	for i, id := range o.order {
		out[i] = o.put[id]
	}
	return out
}

// released lists this phone's own quarantined saves that the server has
// since applied (a supervisor released them, or what they depended on
// arrived): the records they touched, as the server now sends them,
// include them, and the server last said it had not applied them (kept:
// protocol.Response.KeptAside) — a later save of this phone to the same
// record makes its version cover a refused one the server never applied.
func released(st localstore.Store, self string, get func(syncengine.RecordID) (*syncengine.Record, error), kept map[uint64]bool) ([]localstore.Key, error) {
	qs, err := st.Queued()
	if err != nil {
		return nil, err
	}
	var out []localstore.Key
	for _, q := range qs {
		if q.Queue != localstore.QueueQuarantine || q.Direction != "push" || q.Replica != self || q.Changeset == nil || kept[q.Start] {
			continue // unreadable ones, and those not applied, stay for the user to see
		}
		included := true
		for _, id := range q.Changeset.Records() {
			r, err := get(id)
			if err != nil {
				return nil, err
			}
			if r == nil || r.VV.Get(q.Changeset.Replica) < q.Changeset.Start {
				included = false
				break
			}
		}
		if included {
			out = append(out, q.Key)
		}
	}
	return out, nil
}

// encodeKept keeps the starts of this phone's saves the server listed as
// not applied, for released between syncs (meta kept_aside).
func encodeKept(self string, keys []protocol.SaveKey) string {
	var b strings.Builder
	for _, k := range keys {
		if k.Replica == self {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(k.Start, 10))
		}
	}
	return b.String()
}

func decodeKept(s string) map[uint64]bool {
	kept := map[uint64]bool{}
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.ParseUint(f, 10, 64); err == nil {
			kept[n] = true
		}
	}
	return kept
}

// replayOutbox re-applies this phone's unacknowledged saves on top of
// snapshot states, which do not include them. The engine decides: a save
// already in a record is a duplicate, one whose context is missing waits.
func replayOutbox(st localstore.Store, acked map[uint64]bool, v *overlay) error {
	es, err := st.Outbox(0)
	if err != nil {
		return err
	}
	for _, e := range es {
		if acked[e.Start] {
			continue
		}
		cs, err := syncengine.DecodeChangeset(e.Body)
		if err != nil {
			return syncengine.Errorf(ECORRUPT, "read outbox", "queued changeset %d does not decode", e.Start)
		}
		res, err := syncengine.Apply(cs, v.get)
		if err != nil || res.Status != syncengine.Applied {
			continue
		}
		for _, r := range res.Records {
			v.putRecord(r)
		}
	}
	return nil
}

// apiError is the server's error body.
type apiError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

type serverError struct {
	status int
	body   apiError
	lang   string // the language the server worded the message in ("" English)
}

func (e *serverError) Error() string {
	return fmt.Sprintf("server %d %s: %s", e.status, e.body.Code, e.body.Message)
}

func (c *Client) wipeRequested(err error) bool {
	var se *serverError
	if !errors.As(err, &se) {
		return false
	}
	var d struct {
		Wipe bool `json:"wipe"`
	}
	json.Unmarshal(se.body.Details, &d)
	return d.Wipe
}

// call POSTs body and hands a 2xx response body to decode. Errors carry the
// server's code (unauthorized, revoked, rate_limited...), or network.
func (c *Client) call(ctx context.Context, url, cred, contentType string, body []byte, decode func([]byte) error) (int, error) {
	return c.callMethod(ctx, "POST", url, cred, contentType, body, decode)
}

// callMethod is call with another method (DELETE /v1/push/token).
func (c *Client) callMethod(ctx context.Context, method, url, cred, contentType string, body []byte, decode func([]byte) error) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout())
	defer cancel()
	lang, _ := c.lang.Load().(string)
	r, err := c.link.send(ctx, method, url, cred, contentType, lang, body)
	if errors.Is(err, errBadAddress) {
		return 0, errorf(syncengine.EINVALID, "sync", "bad server address")
	} else if err != nil {
		return 0, &syncengine.Error{Code: ENETWORK, Op: "sync", Message: "the server could not be reached", Err: err}
	}
	c.observeServerTime(r.date)
	b := r.body
	if r.readErr != nil {
		return len(b), &syncengine.Error{Code: ENETWORK, Op: "sync", Message: "the connection broke during the answer", Err: r.readErr}
	}
	if r.status/100 != 2 {
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			e = apiError{Code: ENETWORK, Message: fmt.Sprintf("the server answered HTTP %d", r.status)}
		}
		return len(b), &syncengine.Error{Code: e.Code, Op: "sync", Message: e.Message, Err: &serverError{r.status, e, r.lang}}
	}
	if err := decode(b); err != nil {
		return len(b), &syncengine.Error{Code: EPROTOCOL, Op: "sync", Message: "the server's answer is not understood", Err: err}
	}
	return len(b), nil
}

// applyPage applies received changesets in one transaction. On failure the
// replica is rebuilt from disk, since its memory may hold what was rolled back.
func (c *Client) applyPage(received []*syncengine.Changeset) error {
	if len(received) == 0 {
		return nil
	}
	c.editMu.Lock()
	defer c.editMu.Unlock()
	err := c.st.Batch(func() error {
		for _, cs := range received {
			if err := c.applyReceived(cs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		if rerr := c.startReplica(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		c.mu.Unlock()
	}
	return err
}

// installID is a random id this installation sends with every enrolment
// attempt, made once and kept: a retry after a lost answer carries the same
// one, so the server can tell it from another device using the same code.
func (c *Client) installID(st localstore.Store) (string, error) {
	if v, err := st.Meta("install_id"); err != nil || v != "" {
		return v, err
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(c.ids, b); err != nil {
		return "", fmt.Errorf("install id: %w", err)
	}
	v := hex.EncodeToString(b)
	return v, st.SetMeta(map[string]string{"install_id": v})
}
