// Command wasm is the field app's engine in the browser: the SDK's engine
// (syncengine) and wire protocol over IndexedDB (localstore/idb), exposed to
// the page's script as the global object `joinedup`, whose methods return
// promises. Built by `make webapp` into bin/webapp/app.wasm.
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/mobile-sdk/localstore/idb"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// dbName is the IndexedDB database: one enrolled phone per browser profile.
const dbName = "joinedup"

const (
	pushBudget = 512 << 10
	pageBytes  = 512 << 10
	maxPages   = 1000
)

// phone is one browser phone. mu serialises saves and syncs, as the native
// client's editMu/syncMu do.
type phone struct {
	mu  sync.Mutex
	st  localstore.Store
	rep *syncengine.Replica
}

// errRevoked is what the page is told after a wipe.
var errRevoked = errors.New("revoked")

func (p *phone) open() error {
	st, err := idb.Open(dbName)
	if err != nil {
		return err
	}
	p.st = st
	return p.startReplica()
}

func (p *phone) startReplica() error {
	p.rep = nil
	v, err := p.st.Meta("replica_id")
	if err != nil || v == "" {
		return err
	}
	id, err := syncengine.ParseReplicaID(v)
	if err != nil {
		return fmt.Errorf("stored replica id is not valid")
	}
	counter, _ := strconv.ParseUint(p.meta("counter"), 10, 64)
	hlc, _ := strconv.ParseInt(p.meta("hlc"), 10, 64)
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: rand.Reader, Store: p.st,
		Counter: counter, Clock: syncengine.Timestamp(hlc)})
	if err != nil {
		return err
	}
	p.rep = rep
	held, err := p.st.Inbox()
	if err != nil {
		return err
	}
	for _, cs := range held {
		if _, err := rep.Apply(cs); err != nil {
			return err
		}
	}
	return nil
}

func (p *phone) meta(k string) string { v, _ := p.st.Meta(k); return v }

// enrol exchanges a code for this browser's identity. The code goes in a
// POST body, never the URL.
func (p *phone) enrol(code string) (any, error) {
	if p.st == nil {
		if err := p.open(); err != nil {
			return nil, err
		}
	}
	if p.rep != nil {
		return nil, fmt.Errorf("this phone is already enrolled")
	}
	body, _ := json.Marshal(map[string]string{"code": code, "platform": "web"})
	var e struct {
		ReplicaID  string `json:"replica_id"`
		DeviceID   string `json:"device_id"`
		Credential string `json:"credential"`
		PersonID   string `json:"person_id"`
		TeamID     string `json:"team_id"`
	}
	b, err := post("/v1/enrol", "", "application/json", body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Credential == "" || e.PersonID == "" {
		return nil, fmt.Errorf("the server's enrolment answer is incomplete")
	}
	if _, err := syncengine.ParseReplicaID(e.ReplicaID); err != nil {
		return nil, fmt.Errorf("the server's enrolment answer is incomplete")
	}
	if err := p.st.SetSecret("credential", e.Credential); err != nil {
		return nil, err
	}
	if err := p.st.SetMeta(map[string]string{"replica_id": e.ReplicaID, "device_id": e.DeviceID, "person_id": e.PersonID,
		"team_id": e.TeamID, "cursor": "", "counter": "0"}); err != nil {
		return nil, err
	}
	return nil, p.startReplica()
}

// addEncounter saves one encounter: one changeset, durable in IndexedDB and
// queued when the promise resolves.
func (p *phone) addEncounter(area, level, note string) (any, error) {
	if p.rep == nil {
		return nil, fmt.Errorf("enrol this phone first")
	}
	me, team := p.meta("person_id"), p.meta("team_id")
	var id syncengine.RecordID
	_, err := p.rep.Edit(me, func(tx *syncengine.Txn) error {
		var err error
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for f, v := range map[string]any{"team_id": team, "area": area, "concern_level": level, "concern": level != "none" && level != "",
			"started_at": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)} {
			if err := tx.Set(id, f, v); err != nil {
				return err
			}
		}
		if err := tx.Add(id, "workers", me); err != nil {
			return err
		}
		if note != "" {
			return tx.InsertText(id, "note", 0, note)
		}
		return nil
	})
	return string(id), err
}

// editNote saves a new text of an encounter's note as the smallest insert
// and delete (syncengine.Txn.ReplaceText), so another worker's concurrent
// edits to other parts of the note survive the merge.
func (p *phone) editNote(id, text string) (any, error) {
	if p.rep == nil {
		return nil, fmt.Errorf("enrol this phone first")
	}
	_, err := p.rep.Edit(p.meta("person_id"), func(tx *syncengine.Txn) error {
		return tx.ReplaceText(syncengine.RecordID(id), "note", text)
	})
	return nil, err
}

type encounterView struct {
	ID           string `json:"id"`
	Area         string `json:"area"`
	ConcernLevel string `json:"concern_level"`
	Note         string `json:"note"`
	StartedAt    string `json:"started_at"`
	Conflicts    int    `json:"conflicts"`
}

// encounters lists the last 24 hours' encounters, newest first.
func (p *phone) encounters() (any, error) {
	if p.st == nil {
		return []encounterView{}, nil
	}
	recs, err := p.st.Records(syncengine.TypeEncounter)
	if err != nil {
		return nil, err
	}
	since := time.Now().Add(-24 * time.Hour)
	out := []encounterView{}
	for _, r := range recs {
		if r.Deleted() || r.Erased != nil {
			continue
		}
		t, _ := time.Parse(time.RFC3339Nano, r.String("started_at"))
		if t.Before(since) {
			continue
		}
		out = append(out, encounterView{ID: string(r.ID), Area: r.String("area"), ConcernLevel: r.String("concern_level"),
			Note: r.String("note"), StartedAt: r.String("started_at"), Conflicts: len(r.Conflicts())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt > out[j].StartedAt })
	return out, nil
}

func (p *phone) status() (any, error) {
	if p.st == nil {
		return map[string]any{"enrolled": false, "wiped": true}, nil
	}
	pending, held, err := p.st.Counts()
	if err != nil {
		return nil, err
	}
	last, _ := strconv.ParseInt(p.meta("last_synced"), 10, 64)
	return map[string]any{"enrolled": p.rep != nil, "pending": pending, "held": held, "last_synced_ms": last,
		"last_error": p.meta("last_error")}, nil
}

// sync pushes the outbox and pulls until the server has nothing more. The
// inbox is written before the cursor moves, so a tab closed mid-sync loses
// nothing: the next run applies what is held and pulls again from the old
// cursor (the engine ignores what it already has).
func (p *phone) sync() (any, error) {
	if p.rep == nil {
		return nil, fmt.Errorf("enrol this phone first")
	}
	cred, err := p.st.Secret("credential")
	if err != nil {
		return nil, err
	}
	self := p.rep.ID().String()
	pushed, received := 0, 0
	for page := 0; page < maxPages; page++ {
		batch, err := p.st.Outbox(pushBudget)
		if err != nil {
			return nil, err
		}
		total, held, err := p.st.Counts()
		if err != nil {
			return nil, err
		}
		frames := make([][]byte, len(batch))
		inBatch := map[uint64]bool{}
		for i, e := range batch {
			frames[i] = e.Body
			inBatch[e.Start] = true
		}
		body, err := protocol.Encode(protocol.Request{Cursor: p.meta("cursor"), Pending: held, PageBytes: pageBytes}, frames)
		if err != nil {
			return nil, err
		}
		b, err := post("/v1/sync", cred, protocol.ContentType, body)
		if err != nil {
			p.st.SetMeta(map[string]string{"last_error": err.Error()})
			if errors.Is(err, errRevoked) {
				return nil, p.wipe()
			}
			return nil, err
		}
		var hdr protocol.Response
		groups, err := protocol.Decode(b, &hdr, 2)
		if err != nil {
			return nil, fmt.Errorf("the server's answer is not understood")
		}
		var acked []uint64
		for _, r := range hdr.Results {
			if r.Replica == self && inBatch[r.Start] && (r.Status == protocol.StatusAccepted || r.Status == protocol.StatusDuplicate || r.Status == protocol.StatusQuarantined) {
				acked = append(acked, r.Start)
			}
		}
		if err := p.st.Acknowledge(acked); err != nil {
			return nil, err
		}
		pushed += len(acked)
		var snaps []*syncengine.Record
		for _, f := range groups[1] {
			recs, err := syncengine.DecodeSnapshot(f)
			if err != nil {
				return nil, fmt.Errorf("the server sent a snapshot that does not decode")
			}
			for _, r := range recs {
				if local, _ := p.st.Record(r.ID); local == nil || !local.VV.Covers(r.VV) {
					snaps = append(snaps, r)
				}
			}
		}
		if err := p.st.PutSnapshot(snaps); err != nil {
			return nil, err
		}
		var css []*syncengine.Changeset
		for _, f := range groups[0] {
			got, err := syncengine.DecodeChangesets(f)
			if err != nil {
				return nil, fmt.Errorf("the server sent a changeset that does not decode")
			}
			css = append(css, got...)
		}
		for _, cs := range css {
			if err := p.st.PutInbox(cs, syncengine.EncodeChangeset(cs)); err != nil {
				return nil, err
			}
		}
		if err := p.st.SetMeta(map[string]string{"cursor": hdr.Cursor}); err != nil {
			return nil, err
		}
		for _, cs := range css {
			if _, err := p.rep.Apply(cs); err != nil {
				return nil, err
			}
		}
		received += len(css) + len(snaps)
		if !hdr.More && int64(len(batch)) >= total {
			break
		}
	}
	if err := p.st.SetMeta(map[string]string{"last_synced": strconv.FormatInt(time.Now().UnixMilli(), 10), "last_error": ""}); err != nil {
		return nil, err
	}
	return map[string]int{"pushed": pushed, "received": received}, nil
}

// wipe destroys the database and its key; the page goes back to enrolment.
func (p *phone) wipe() error {
	if err := p.st.Wipe(); err != nil {
		return err
	}
	// Not reopened until the next enrolment: a new database would hold a
	// new key, and the page must be able to show that nothing is left.
	p.st, p.rep = nil, nil
	return errRevoked
}

// post sends body to the same origin the app came from.
func post(path, cred, contentType string, body []byte) ([]byte, error) {
	headers := map[string]any{"Content-Type": contentType}
	if cred != "" {
		headers["Authorization"] = "Bearer " + cred
	}
	u8 := js.Global().Get("Uint8Array").New(len(body))
	js.CopyBytesToJS(u8, body)
	resp, err := idb.Await(js.Global().Call("fetch", path, map[string]any{"method": "POST", "headers": headers, "body": u8,
		"cache": "no-store", "credentials": "omit", "referrerPolicy": "no-referrer"}))
	if err != nil {
		return nil, fmt.Errorf("offline: the server could not be reached")
	}
	ab, err := idb.Await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, fmt.Errorf("offline: the connection broke during the answer")
	}
	arr := js.Global().Get("Uint8Array").New(ab)
	b := make([]byte, arr.Length())
	js.CopyBytesToGo(b, arr)
	if status := resp.Get("status").Int(); status/100 != 2 {
		var e struct{ Code, Message string }
		json.Unmarshal(b, &e)
		if e.Code == "revoked" {
			return nil, errRevoked
		}
		return nil, fmt.Errorf("server %d %s: %s", status, e.Code, e.Message)
	}
	return b, nil
}

// promise runs fn on its own goroutine (IndexedDB and fetch block it) and
// settles a JS promise with its JSON result.
func (p *phone) promise(fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		exec := js.FuncOf(func(_ js.Value, pr []js.Value) any {
			resolve, reject := pr[0], pr[1]
			go func() {
				p.mu.Lock()
				v, err := fn(args)
				p.mu.Unlock()
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				b, _ := json.Marshal(v)
				resolve.Invoke(js.Global().Get("JSON").Call("parse", string(b)))
			}()
			return nil
		})
		defer exec.Release() // the executor runs inside New
		return js.Global().Get("Promise").New(exec)
	})
}

func main() {
	p := &phone{}
	ready := make(chan error, 1)
	go func() { ready <- p.open() }()
	openErr := <-ready
	api := map[string]any{
		"ready": p.promise(func([]js.Value) (any, error) { return nil, openErr }),
		"enrol": p.promise(func(a []js.Value) (any, error) { return p.enrol(a[0].String()) }),
		"addEncounter": p.promise(func(a []js.Value) (any, error) {
			return p.addEncounter(a[0].Get("area").String(), a[0].Get("concern_level").String(), a[0].Get("note").String())
		}),
		"editNote":   p.promise(func(a []js.Value) (any, error) { return p.editNote(a[0].String(), a[1].String()) }),
		"encounters": p.promise(func([]js.Value) (any, error) { return p.encounters() }),
		"status":     p.promise(func([]js.Value) (any, error) { return p.status() }),
		"sync":       p.promise(func([]js.Value) (any, error) { return p.sync() }),
	}
	js.Global().Set("joinedup", js.ValueOf(api))
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("joinedup-ready"))
	select {}
}
