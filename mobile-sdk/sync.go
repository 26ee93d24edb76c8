package mobilesdk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine/protocol"

	"github.com/joinedup/joinedup/syncengine"
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
	replica, _ := st.metaString("replica_id")
	if replica != "" {
		if refused, _ := st.metaString("credential_refused"); refused != "1" {
			return "", errorf(syncengine.ECONFLICT, "enrol", "this device is already enrolled; log out first")
		}
	}
	install, err := st.installID(c.ids)
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
	id, err := syncengine.ParseReplicaID(e.ReplicaID)
	if err != nil || e.Credential == "" || e.PersonID == "" {
		return "", errorf(EPROTOCOL, "enrol", "the server's enrolment answer is incomplete")
	}
	if replica != "" {
		// Re-enrolment: the saves queued and sent under this replica id are
		// only accepted if the server registered the same id for the same
		// person; anything else would strand them.
		if me, _ := st.metaString("person_id"); e.PersonID != me {
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
	err = st.update(func(tx *sql.Tx) error {
		for k, v := range meta {
			if err := setMeta(tx, k, v); err != nil {
				return err
			}
		}
		if replica != "" {
			// Send everything again (the server may hold none of it) and
			// start from a snapshot of what it holds now.
			if err := resendTx(tx); err != nil {
				return err
			}
		}
		return st.setSecret(tx, "credential", e.Credential)
	})
	if err != nil {
		return "", err
	}
	if replica == "" {
		c.mu.Lock()
		st.self = id
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
		setMetaInt(st.db, "last_synced", c.now().UnixMilli())
		setMeta(st.db, "last_error", "")
		setMeta(st.db, "last_error_code", "")
	} else if code := ErrorCode(err); code != EREVOKED {
		setMeta(st.db, "last_error", ErrorMessage(err))
		setMeta(st.db, "last_error_code", code)
		if code == EUNAUTHORIZED {
			// The server does not know this phone's credential: it may have
			// been restored from a backup older than the phone, so what it
			// acknowledged is not certain any more (see Logout), and the
			// phone may be enrolled again without losing its work.
			setMeta(st.db, "credential_refused", "1")
		}
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
	if off, _ := st.metaString("offline"); off == "1" {
		return nil, errorf(EOFFLINE, "sync", "the device is offline")
	}
	server, _ := st.metaString("server_url")
	cred, err := st.getSecret(st.db, "credential")
	if err != nil {
		return nil, err
	}
	if _, err := st.db.Exec(`DELETE FROM sent WHERE acked < ?`, c.now().Add(-keepSent).UnixMilli()); err != nil {
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
			if err := st.resend(); err != nil {
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
	sum.StillPending, _, sum.StillHeld, _, _ = st.counts()
	sum.DurationMilli = time.Since(start).Milliseconds()
	return sum, nil
}

// errSmaller: the round trip was too big for the link; try again at once
// with the smaller sizes.
var errSmaller = errors.New("round trip too big for the link")

// roundTrip sends one request (the next outbox batch, the cursor) and stores
// what came back. It reports whether another round trip is needed.
func (c *Client) roundTrip(ctx context.Context, st *store, server, cred string, sum *syncSummary) (bool, error) {
	c.mu.Lock()
	budget, page := c.sizes.push, c.sizes.page
	c.mu.Unlock()
	batch, err := st.outbox(st.db, budget)
	if err != nil {
		return false, err
	}
	total, _, held, _, err := st.counts()
	if err != nil {
		return false, err
	}
	cursor, err := st.metaString("cursor")
	if err != nil {
		return false, err
	}
	frames := make([][]byte, len(batch))
	pushed := 0
	for i, e := range batch {
		frames[i] = e.body
		pushed += len(e.body)
	}
	purged := st.purgesToConfirm()
	dirVersion, _ := st.metaString("directory_version")
	body, err := protocol.Encode(protocol.Request{Cursor: cursor, Pending: held, PageBytes: page, Purged: purged,
		FieldWeeks: c.fieldWeeksNow(), DirectoryVersion: dirVersion}, frames)
	if err != nil {
		return false, err
	}
	var hdr protocol.Response
	var groups [][][]byte
	began, timeout := time.Now(), c.httpClient().Timeout
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
	sum.Pushed += len(batch)
	c.reportProgress("pushed", sum.RoundTrips, len(batch), 0, len(groups[0])+len(groups[1]), hdr.More)
	acked := sum.Accepted + sum.Duplicates + sum.Quarantined
	received, refused, err := c.storePage(st, batch, &hdr, groups[0], groups[1], sum, purged)
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
func (c *Client) storePage(st *store, batch []outboxEntry, hdr *protocol.Response, csFrames, snapFrames [][]byte, sum *syncSummary, purged []string) (received []*syncengine.Changeset, refused bool, err error) {
	// Decode everything before touching the database: a bad page stores nothing.
	type frameCS struct {
		cs    *syncengine.Changeset
		frame []byte
	}
	var incoming []frameCS
	for _, f := range csFrames {
		css, err := syncengine.DecodeChangesets(f)
		if err != nil {
			return nil, false, errorf(EPROTOCOL, "sync", "the server sent a changeset that does not decode")
		}
		for _, cs := range css {
			incoming = append(incoming, frameCS{cs, syncengine.EncodeChangeset(cs)})
		}
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
		inBatch[e.start] = true
	}
	self := st.self.String()
	// Records the changesets waiting in the inbox touch (see HeldPart below).
	coming := map[syncengine.RecordID]bool{}
	if p, _ := st.metaString("partial"); (p == "1" || hdr.Partial) && len(incoming) > 0 {
		waiting, err := st.inbox()
		if err != nil {
			return nil, false, err
		}
		for _, cs := range waiting {
			for _, d := range cs.Deps {
				coming[d.Record] = true
			}
		}
	}
	c.editMu.Lock()
	defer c.editMu.Unlock()
	reset := false
	err = st.update(func(tx *sql.Tx) error {
		if err := notePurges(tx, purged, hdr.Erase); err != nil {
			return err
		}
		for _, r := range hdr.Results {
			if r.Replica != self || !inBatch[r.Start] {
				continue
			}
			switch r.Status {
			case protocol.StatusAccepted, protocol.StatusDuplicate:
				if r.Status == protocol.StatusAccepted {
					sum.Accepted++
				} else {
					sum.Duplicates++
				}
			case protocol.StatusQuarantined:
				sum.Quarantined++
				refused = true
				var blob []byte
				if err := tx.QueryRow(`SELECT body FROM outbox WHERE start = ?`, int64(r.Start)).Scan(&blob); err != nil {
					return err
				}
				if err := st.quarantine(tx, self, r.Start, "push", r.Code, r.Message, blob); err != nil {
					return err
				}
			default:
				continue // an answer this SDK does not know: keep it queued
			}
			if r.Status == protocol.StatusAccepted || r.Status == protocol.StatusDuplicate {
				// Kept for keepSent, in case the server is restored from a
				// backup taken before it had this save.
				if _, err := tx.Exec(`INSERT OR IGNORE INTO sent (start, acked, body) SELECT start, ?, body FROM outbox WHERE start = ?`,
					c.now().UnixMilli(), int64(r.Start)); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(`DELETE FROM outbox WHERE start = ?`, int64(r.Start)); err != nil {
				return err
			}
		}
		if refused {
			// The local records include the refused save; the server's do
			// not. Start again from a snapshot so the phone shows what the
			// server holds (the rest of the outbox is replayed on top). This
			// page was computed from the old cursor: drop it.
			if err := setMeta(tx, "reset_pending", "1"); err != nil {
				return err
			}
			return setMeta(tx, "cursor", "")
		}
		pendingReset, err := getMeta(tx, "reset_pending")
		if err != nil {
			return err
		}
		if hdr.Reset || pendingReset == "1" {
			reset = true
			sum.Reset = true
			for _, q := range []string{`DELETE FROM links`, `DELETE FROM records`, `DELETE FROM inbox`} {
				if _, err := tx.Exec(q); err != nil {
					return err
				}
			}
			if err := setMeta(tx, "reset_pending", ""); err != nil {
				return err
			}
		}
		for _, id := range hdr.Drop {
			if _, err := tx.Exec(`DELETE FROM records WHERE id = ?`, id); err != nil {
				return err
			}
			sum.Dropped++
		}
		for _, snap := range snaps {
			local, err := st.record(tx, snap.ID)
			if err != nil {
				return err
			}
			if local != nil && local.VV.Covers(snap.VV) {
				continue // this phone already has all of it
			}
			if err := st.putRecord(tx, snap); err != nil {
				return err
			}
		}
		sum.Snapshots += len(snaps)
		if len(snaps) > 0 {
			if err := st.clearReleased(tx); err != nil {
				return err
			}
		}
		if len(snaps) > 0 || reset {
			if err := c.replayOutbox(tx, st); err != nil {
				return err
			}
		}
		was, err := getMeta(tx, "cursor")
		if err != nil {
			return err
		}
		if hdr.Reset || was == "" {
			// A snapshot starts (new, re-enrolled, reset, or a server
			// restore): whether it is the field subset, and the background
			// paging of older records, start again with it.
			for _, k := range []string{"partial", "field_seq", "older_after", "older_done"} {
				if err := setMeta(tx, k, ""); err != nil {
					return err
				}
			}
		}
		if hdr.Partial {
			if err := setMeta(tx, "partial", "1"); err != nil {
				return err
			}
			if err := setMetaInt(tx, "field_since", hdr.FieldSince); err != nil {
				return err
			}
		}
		if hdr.FieldSeq > 0 {
			if err := setMetaInt(tx, "field_seq", hdr.FieldSeq); err != nil {
				return err
			}
		}
		partial, err := getMeta(tx, "partial")
		if err != nil {
			return err
		}
		for _, in := range incoming {
			cs, frame := in.cs, in.frame
			if partial == "1" {
				// Ops on older records this phone never received wait for
				// a fetch of the record, which brings them whole. A record
				// an earlier changeset (of this page, or waiting in the
				// inbox) touches is on its way, not old.
				part, ok := protocol.HeldPart(cs, func(id syncengine.RecordID) bool {
					if coming[id] {
						return true
					}
					r, err := st.record(tx, id)
					return err == nil && r != nil
				})
				if !ok {
					continue
				}
				if part != cs {
					cs, frame = part, syncengine.EncodeChangeset(part)
				}
				for _, d := range cs.Deps {
					coming[d.Record] = true
				}
			}
			if err := st.putInbox(tx, cs, frame); err != nil {
				return err
			}
			received = append(received, cs)
		}
		sum.Changesets += len(incoming)
		if hdr.Directory != nil {
			if err := setMeta(tx, "directory", mustJSON(hdr.Directory.Services)); err != nil {
				return err
			}
			if err := setMeta(tx, "directory_version", hdr.Directory.Version); err != nil {
				return err
			}
		}
		if err := c.noteProgress(tx, hdr); err != nil {
			return err
		}
		return setMeta(tx, "cursor", hdr.Cursor)
	})
	if err != nil {
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
	return received, refused, nil
}

// replayOutbox re-applies this phone's unacknowledged saves on top of
// snapshot states, which do not include them. The engine decides: a save
// already in a record is a duplicate, one whose context is missing waits.
func (c *Client) replayOutbox(tx *sql.Tx, st *store) error {
	css, err := st.outboxChangesets(tx)
	if err != nil {
		return err
	}
	get := func(id syncengine.RecordID) (*syncengine.Record, error) { return st.record(tx, id) }
	for _, cs := range css {
		res, err := syncengine.Apply(cs, get)
		if err != nil || res.Status != syncengine.Applied {
			continue
		}
		for _, r := range res.Records {
			if err := st.putRecord(tx, r); err != nil {
				return err
			}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, errorf(syncengine.EINVALID, "sync", "bad server address")
	}
	req.Header.Set("Content-Type", contentType)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, &syncengine.Error{Code: ENETWORK, Op: "sync", Message: "the server could not be reached", Err: err}
	}
	defer resp.Body.Close()
	c.observeServerTime(resp.Header)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return len(b), &syncengine.Error{Code: ENETWORK, Op: "sync", Message: "the connection broke during the answer", Err: err}
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			e = apiError{Code: ENETWORK, Message: fmt.Sprintf("the server answered HTTP %d", resp.StatusCode)}
		}
		return len(b), &syncengine.Error{Code: e.Code, Op: "sync", Message: e.Message, Err: &serverError{resp.StatusCode, e}}
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
	err := c.st.inBatch(func() error {
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

// resend puts every kept acknowledged save back in the outbox and forgets the
// cursor, in one transaction: the next round trip pushes them again and pulls
// a snapshot of the phone's scope.
func (s *store) resend() error {
	return s.update(resendTx)
}

func resendTx(tx *sql.Tx) error {
	if _, err := tx.Exec(`INSERT OR IGNORE INTO outbox (start, bytes, created, body) SELECT start, length(body), acked, body FROM sent`); err != nil {
		return err
	}
	return setMeta(tx, "cursor", "")
}
