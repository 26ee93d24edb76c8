package mobilesdk

import (
	"context"
	"encoding/json"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A phone's first sync carries the field subset of its team (young people,
// open referrals and follow-ups, the last FieldWeeks weeks of encounters);
// older records come on demand: FetchRecord when one is opened,
// FetchYoungPerson for a young person's whole history, FetchOlder page by
// page in the background (on Wi-Fi). See docs/sync-protocol.md.

// DefaultFieldWeeks is how many weeks of encounters a first sync carries
// unless SetFieldWeeks says otherwise.
const DefaultFieldWeeks = 2

// SetFieldWeeks sets how many weeks of encounters the next first sync (a
// new or re-enrolled phone, or one whose scope changed) carries; 0 asks for
// the team's whole history, as phones did before the field subset.
func (c *Client) SetFieldWeeks(weeks int64) {
	c.mu.Lock()
	c.fieldWeeks = max(0, min(weeks, 520))
	c.fieldWeeksSet = true
	c.mu.Unlock()
}

func (c *Client) fieldWeeksNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fieldWeeksSet {
		return DefaultFieldWeeks
	}
	return int(c.fieldWeeks)
}

// Progress is how far the phone's current (or last) pull has come: Done of
// Total in Phase ("snapshot": records of a first sync; "changes": log
// positions of an incremental pull; "older": records of FetchOlder).
// Fraction is Done/Total, 1 when complete.
type Progress struct {
	Phase    string
	Done     int64
	Total    int64
	Fraction float64
	// Partial: the phone holds the field subset, older records on demand.
	Partial bool
	// OlderDone: FetchOlder has brought every older record.
	OlderDone bool
}

type storedProgress struct {
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
	More  bool   `json:"more"`
	// Start is the first incremental page's total: later pages of the same
	// pull count against it.
	Start int64 `json:"start"`
	Acc   int64 `json:"acc"`
}

// noteProgress keeps the pull's progress from one page's answer, in the
// meta of the batch that stores the page.
func noteProgress(st localstore.Store, meta map[string]string, hdr *protocol.Response) error {
	if hdr.Progress == nil {
		return nil
	}
	var prev storedProgress
	if v, _ := st.Meta("progress"); v != "" {
		_ = json.Unmarshal([]byte(v), &prev)
	}
	p := storedProgress{Phase: hdr.Progress.Phase, Done: hdr.Progress.Done, Total: hdr.Progress.Total, More: hdr.More}
	if p.Phase == "changes" {
		// Each page counts from its own cursor; add them up within a pull.
		p.Start, p.Acc = p.Total, p.Done
		if prev.Phase == "changes" && prev.More {
			p.Start, p.Acc = prev.Start, prev.Acc+p.Done
		}
		p.Done, p.Total = p.Acc, p.Start
	}
	meta["progress"] = mustJSON(p)
	return nil
}

// SyncProgress reports how far the current or last pull has come.
func (c *Client) SyncProgress() (*Progress, error) {
	st, _, err := c.state(false)
	if err != nil {
		return nil, err
	}
	var p storedProgress
	if v, _ := st.Meta("progress"); v != "" {
		_ = json.Unmarshal([]byte(v), &p)
	}
	out := &Progress{Phase: p.Phase, Done: p.Done, Total: p.Total, Fraction: 1}
	if p.More && p.Total > 0 {
		out.Fraction = min(1, float64(p.Done)/float64(p.Total))
	}
	if !p.More {
		out.Done = out.Total
	}
	partial, _ := st.Meta("partial")
	older, _ := st.Meta("older_done")
	out.Partial, out.OlderDone = partial == "1", older == "1"
	return out, nil
}

// Services returns the service directory as the server last sent it (a
// JSON array of {"id","name","kind","contact","hours","tz","pathway",
// "shared_fields"}), "[]" before the first sync. It is read-only: the
// server refuses any phone's write to it.
func (c *Client) Services() (string, error) {
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	v, err := st.Meta("directory")
	if err != nil || v == "" {
		return "[]", err
	}
	return v, nil
}

// FetchRecord brings a record the first sync left out (opened on the
// phone). The server answers not_found for a record this phone may not
// read, exactly as for one that does not exist. From then on the record
// follows the log like any other.
func (c *Client) FetchRecord(id string) error {
	_, err := c.fetch(protocol.FetchRequest{Records: []string{id}})
	return err
}

// FetchYoungPerson brings a young person's whole history: their referrals,
// follow-ups and the encounters that name them, however old.
func (c *Client) FetchYoungPerson(id string) error {
	_, err := c.fetch(protocol.FetchRequest{YoungPerson: id})
	return err
}

// FetchOlder brings the next page of the records older than the first
// sync (call it on Wi-Fi, in the background, until it returns false). It
// returns whether more remain; SyncProgress follows it (phase "older").
func (c *Client) FetchOlder() (bool, error) {
	st, _, err := c.state(true)
	if err != nil {
		return false, err
	}
	if p, _ := st.Meta("partial"); p != "1" {
		return false, nil // the phone holds its whole scope
	}
	if done, _ := st.Meta("older_done"); done == "1" {
		return false, nil
	}
	since, err := metaInt(st, "field_since")
	if err != nil {
		return false, err
	}
	seq, err := metaInt(st, "field_seq")
	if err != nil {
		return false, err
	}
	after, _ := st.Meta("older_after")
	c.mu.Lock()
	page := c.sizes.page
	c.mu.Unlock()
	res, err := c.fetch(protocol.FetchRequest{Rest: true, Since: since, Seq: seq, After: after, PageBytes: page})
	if err != nil {
		return false, err
	}
	meta := map[string]string{"older_after": res.After}
	if res.Progress != nil {
		meta["progress"] = mustJSON(storedProgress{Phase: "older", Done: res.Progress.Done, Total: res.Progress.Total, More: res.More})
	}
	if !res.More {
		meta["older_done"] = "1"
	}
	err = st.SetMeta(meta)
	return res.More, err
}

// fetch asks POST /v1/sync/fetch and stores the snapshots it sends as a
// pull's are stored: a record the phone already holds at least as new is
// kept; its own unsent saves are replayed on top.
func (c *Client) fetch(req protocol.FetchRequest) (*protocol.FetchResponse, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	st, _, err := c.state(true)
	if err != nil {
		return nil, err
	}
	server, _ := st.Meta("server_url")
	cred, err := st.Secret("credential")
	if err != nil {
		return nil, err
	}
	body, err := protocol.Encode(req)
	if err != nil {
		return nil, err
	}
	var hdr protocol.FetchResponse
	var groups [][][]byte
	if _, err := c.call(context.Background(), server+"/v1/sync/fetch", cred, protocol.ContentType, body, func(b []byte) error {
		var err error
		groups, err = protocol.Decode(b, &hdr, 1)
		return err
	}); err != nil {
		return nil, err
	}
	var snaps []*syncengine.Record
	for _, f := range groups[0] {
		recs, err := syncengine.DecodeSnapshot(f)
		if err != nil {
			return nil, errorf(EPROTOCOL, "fetch", "the server sent a snapshot that does not decode")
		}
		snaps = append(snaps, recs...)
	}
	c.editMu.Lock()
	defer c.editMu.Unlock()
	if err := storeSnapshots(st, snaps); err != nil {
		return nil, err
	}
	c.notify()
	return &hdr, nil
}

// storeSnapshots stores fetched record states as a pull's are stored: a
// record the phone already holds at least as new is kept; its own unsent
// saves are replayed on top. The caller holds editMu.
func storeSnapshots(st localstore.Store, snaps []*syncengine.Record) error {
	if len(snaps) == 0 {
		return nil
	}
	self, err := st.Meta("replica_id")
	if err != nil {
		return err
	}
	v := newOverlay(st, false)
	for _, snap := range snaps {
		local, err := v.get(snap.ID)
		if err != nil {
			return err
		}
		if local != nil && local.VV.Covers(snap.VV) {
			continue
		}
		v.putRecord(snap)
	}
	b := &localstore.Batch{}
	kept, _ := st.Meta("kept_aside")
	if b.Release, err = released(st, self, v.get, decodeKept(kept)); err != nil {
		return err
	}
	if err := replayOutbox(st, nil, v); err != nil {
		return err
	}
	b.Put = v.puts()
	return st.Write(b)
}
