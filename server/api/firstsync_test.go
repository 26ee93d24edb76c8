package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// POST /v1/sync/fetch from a hostile client: another team's record, their
// young person's history, a forged id and malformed bodies all get a clear
// error, and another team's record is answered exactly as a missing one.
func TestFetchHostile(t *testing.T) {
	e := newEnv(t)
	a := e.enrolPhone("w_a")
	var yp syncengine.RecordID
	a.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		if err := tx.Set(yp, "team_id", "team_a"); err != nil {
			return err
		}
		return tx.Set(yp, "known_as", "Jay")
	})
	enc := a.newEncounter("team_a", "By the shops.")
	a.syncAll()
	b := e.enrolPhone("w_b")
	body := func(v any) []byte { out, _ := json.Marshal(v); return out }
	missing := e.do("POST", "/v1/sync/fetch", b.auth(), body(protocol.FetchRequest{Records: []string{"no_such_record"}}))
	theirs := e.do("POST", "/v1/sync/fetch", b.auth(), body(protocol.FetchRequest{Records: []string{string(enc)}}))
	if missing.status != 404 || theirs.status != 404 || string(missing.body) != strings.Replace(string(theirs.body), string(enc), "no_such_record", 1) {
		t.Fatalf("another team's record is answered unlike a missing one:\n%d %s\n%d %s", missing.status, missing.body, theirs.status, theirs.body)
	}
	e.run(t, []scenario{
		{name: "another team's record", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{Records: []string{string(enc)}}), wantStatus: 404, wantCode: domain.ENOTFOUND, wantNotContains: []string{"By the shops", string(enc)}},
		{name: "another team's young person's history", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{YoungPerson: string(yp)}), wantStatus: 404, wantCode: domain.ENOTFOUND, wantNotContains: []string{"Jay"}},
		{name: "another team's rest", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{Rest: true, Since: time.Now().Unix()}), wantStatus: 200, wantNotContains: []string{"snapshots"}},
		{name: "forged id", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{Records: []string{"../../etc"}}), wantStatus: 422, wantCode: domain.EINVALID},
		{name: "two questions at once", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{Records: []string{string(enc)}, YoungPerson: string(yp)}), wantStatus: 422, wantCode: domain.EINVALID},
		{name: "too many ids", method: "POST", url: "/v1/sync/fetch", headers: b.auth(),
			body: body(protocol.FetchRequest{Records: make([]string, 501)}), wantStatus: 422},
		{name: "not JSON", method: "POST", url: "/v1/sync/fetch", headers: b.auth(), body: []byte("{"), wantStatus: 400, wantCode: domain.EMALFORMED},
		{name: "bad envelope", method: "POST", url: "/v1/sync/fetch", headers: map[string]string{"Authorization": "Bearer " + b.enrol.Credential, "Content-Type": protocol.ContentType},
			body: []byte("JUP\x01\xff"), wantStatus: 400, wantCode: domain.EMALFORMED},
		{name: "no credential", method: "POST", url: "/v1/sync/fetch", headers: jsonCT, body: body(protocol.FetchRequest{Records: []string{string(enc)}}), wantStatus: 401},
		{name: "own team's record", method: "POST", url: "/v1/sync/fetch", headers: a.auth(),
			body: body(protocol.FetchRequest{Records: []string{string(enc)}}), wantStatus: 200, wantContains: []string{"snapshots"}},
	})
	var n int
	must(t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'refused' AND record_id = ?`, string(enc)).Scan(&n))
	if n < 2 {
		t.Errorf("%d refused fetches of %s on the audit log, want every one", n, enc)
	}
}

// The service directory is read-only on phones: a phone's changeset that
// creates a service entry, or writes one, is refused with a clear reason
// and the directory does not change.
func TestDirectoryIsReadOnlyOnPhones(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"w_a", "sup_a"} {
		h := e.hostilePhone("", who)
		r := h.sync0()
		if r.Directory == nil || len(r.Directory.Services) != 2 {
			t.Fatalf("%s: directory %+v", who, r.Directory)
		}
		before := r.Directory.Version
		cs := h.forge(h.rep, who, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeService)
			if err != nil {
				return err
			}
			if err := tx.Set(id, "name", "Fake service"); err != nil {
				return err
			}
			return tx.Set(id, "kind", "housing")
		}, nil)
		rep := h.push(cs)
		if rep.status != 200 || len(rep.results) != 1 || rep.results[0].Status != protocol.StatusQuarantined || rep.results[0].Code != domain.EFORBIDDEN {
			t.Fatalf("%s: directory write answered %d %+v", who, rep.status, rep.results)
		}
		if msg := rep.results[0].Message; !strings.Contains(msg, "directory is read-only") {
			t.Errorf("%s: refusal %q does not say the directory is read-only", who, msg)
		}
		if r := h.sync0(); r.Directory != nil && r.Directory.Version != before {
			t.Errorf("%s: the directory changed: %+v", who, r.Directory)
		}
		svcs, err := e.db.Services(t.Context())
		must(t, err)
		if len(svcs) != 2 {
			t.Errorf("%s: %d services after the refused write", who, len(svcs))
		}
	}
}

// sync0 pulls one page with no cursor as an honest phone of today would.
func (h *hostile) sync0() protocol.Response {
	h.t.Helper()
	body, _ := json.Marshal(protocol.Request{FieldWeeks: 4})
	r := h.e.do("POST", "/v1/sync", map[string]string{"Authorization": "Bearer " + h.enrol.Credential, "Content-Type": "application/json"}, body)
	if r.status != 200 {
		h.t.Fatalf("sync: %d %s", r.status, r.body)
	}
	var out protocol.Response
	r.json(h.t, &out)
	return out
}

// Any fetch body from the network gets a clear answer (never a 5xx, every
// error {code, message}), and another team's phone never receives team A's
// record, whatever it sends.
func FuzzFetchBody(f *testing.F) {
	e := newEnv(f, func(c *api.Config) { c.RateLimit, c.RateBurst = 1e9, 1<<30 })
	a := e.enrolPhone("w_a")
	enc := a.newEncounter("team_a", "kept from team B")
	a.syncAll()
	b := e.enrolPhone("w_b")
	js, _ := json.Marshal(protocol.FetchRequest{Records: []string{string(enc)}})
	bin, _ := protocol.Encode(protocol.FetchRequest{Rest: true, Since: 1, After: string(enc)})
	f.Add(js, false)
	f.Add(bin, true)
	f.Add([]byte(`{"young_person":"`+string(enc)+`"}`), false)
	f.Add([]byte(`{"rest":true,"since":-1,"page_bytes":1}`), false)
	f.Add(bin[:len(bin)-2], true)
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		e.t = t
		r := e.untrusted(t, "/v1/sync/fetch", b.auth()["Authorization"], body, binary)
		if r.status != 200 {
			return
		}
		var out protocol.FetchResponse
		if binary {
			groups, err := protocol.Decode(r.body, &out, 1)
			if err != nil {
				t.Fatalf("binary answer does not decode: %v", err)
			}
			if len(groups[0]) > 0 {
				t.Fatalf("team B's phone received %d snapshots", len(groups[0]))
			}
		} else if json.Unmarshal(r.body, &out) != nil || len(out.Snapshots) > 0 {
			t.Fatalf("team B's phone received snapshots: %s", r.body)
		}
	})
}

// untrusted posts body as a device would (JSON or binary) and fails on any
// answer that is not clear: a 5xx, or an error without {code, message}.
func (e *env) untrusted(t *testing.T, url, auth string, body []byte, binary bool) reply {
	t.Helper()
	ct := "application/json"
	if binary {
		ct = api.BinaryContentType
	}
	r := e.do("POST", url, map[string]string{"Authorization": auth, "Content-Type": ct}, body)
	if r.status >= 500 {
		t.Fatalf("status %d for untrusted body: %s", r.status, r.body)
	}
	if r.status != 200 {
		var eb struct{ Code, Message string }
		if json.Unmarshal(r.body, &eb) != nil || eb.Code == "" || eb.Message == "" {
			t.Fatalf("status %d without {code, message}: %s", r.status, r.body)
		}
	}
	return r
}
