package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine/protocol"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"golang.org/x/crypto/bcrypt"
)

type env struct {
	t   testing.TB
	db  *sqlite.DB
	srv *api.Server
	now time.Time
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// newEnv opens a real SQLite file with a small organisation: teams A and B,
// a worker in each, a supervisor of A, a housing service that may see a
// referral's reason, urgency and the young person's known_as, and an admin.
func newEnv(tb testing.TB, opts ...func(*api.Config)) *env {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "db.sqlite"))
	e := &env{t: tb, db: db, now: time.Date(2025, 10, 20, 19, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { return e.now }
	must(tb, db.Open())
	tb.Cleanup(func() { db.Close() })
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	must(tb, db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(tb, db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(tb, db.UpsertTeam(ctx, domain.Team{ID: "team_b", AreaID: "north", Name: "B"}))
	must(tb, db.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", SharedFields: []string{"reason", "urgency", "known_as"}}))
	must(tb, db.UpsertService(ctx, domain.Service{ID: "svc_camhs", Name: "CAMHS", Kind: "camhs", SharedFields: []string{"reason"}}))
	for _, p := range []domain.Person{
		{ID: "w_a", Name: "Worker A", Role: "worker", TeamID: "team_a"},
		{ID: "w_a2", Name: "Worker A2", Role: "worker", TeamID: "team_a"},
		{ID: "w_b", Name: "Worker B", Role: "worker", TeamID: "team_b"},
		{ID: "sup_a", Name: "Sup A", Email: "sup@example.org", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}, PasswordHash: string(hash)},
		{ID: "prac_h", Name: "Housing P", Role: "practitioner", ServiceID: "svc_housing"},
		{ID: "prac_c", Name: "CAMHS P", Role: "practitioner", ServiceID: "svc_camhs"},
		{ID: "admin", Name: "Admin", Email: "admin@example.org", Role: "admin", PasswordHash: string(hash)},
	} {
		must(tb, db.UpsertPerson(ctx, p))
	}
	cfg := api.DefaultConfig()
	cfg.BodyLimit = 256 << 10
	cfg.BackupDir = filepath.Join(tb.TempDir(), "backups")
	cfg.Now = func() time.Time { return e.now }
	for _, o := range opts {
		o(&cfg)
	}
	e.srv = api.New(db, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e.srv.NotFound()
	return e
}

type reply struct {
	status int
	body   []byte
}

func (r reply) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *env) do(method, url string, headers map[string]string, body []byte) reply {
	e.t.Helper()
	req := httptest.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.App.Test(req, 10000)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b}
}

// phone is a device: an engine replica over a memory store, enrolled.
type phone struct {
	e      *env
	person string
	enrol  domain.Enrolment
	rep    *syncengine.Replica
	store  *syncengine.MemStore
	cursor string
	outbox []*syncengine.Changeset
}

func (e *env) enrolPhone(person string) *phone {
	e.t.Helper()
	code, _, err := e.db.IssueEnrolmentCode(context.Background(), person, "sup_a")
	must(e.t, err)
	r := e.do("POST", "/v1/enrol", map[string]string{"Content-Type": "application/json"}, []byte(`{"code":"`+code+`","platform":"sim"}`))
	if r.status != 201 {
		e.t.Fatalf("enrol: %d %s", r.status, r.body)
	}
	p := &phone{e: e, person: person, store: syncengine.NewMemStore()}
	r.json(e.t, &p.enrol)
	id, err := syncengine.ParseReplicaID(p.enrol.ReplicaID)
	must(e.t, err)
	p.rep, err = syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return e.now }, Rand: phoneRand(id), Store: p.store})
	must(e.t, err)
	return p
}

// phoneRand is the phone's source of record ids: seeded by its replica id,
// so ids never collide between phones or between calls. (A source derived
// from the wall clock gave two records created in the same instant the same
// id, and phones whose names had the same length the same ids.)
func phoneRand(id syncengine.ReplicaID) io.Reader {
	var seed [32]byte
	copy(seed[:], id[:])
	return mrand.NewChaCha8(seed)
}

func (p *phone) edit(fn func(tx *syncengine.Txn) error) *syncengine.Changeset {
	p.e.t.Helper()
	cs, err := p.rep.Edit(p.person, fn)
	must(p.e.t, err)
	p.outbox = append(p.outbox, cs)
	return cs
}

func (p *phone) newEncounter(team, note string) syncengine.RecordID {
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		start := p.e.now.Add(-time.Hour)
		for k, v := range map[string]any{"team_id": team, "area": "by the skate ramp", "started_at": start} {
			if err := tx.Set(id, k, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, note)
	})
	return id
}

type syncReply struct {
	protocol.Response
	status int
	raw    []byte
	err    api.ErrorBody
}

func (p *phone) auth() map[string]string {
	return map[string]string{"Authorization": "Bearer " + p.enrol.Credential, "Content-Type": "application/json"}
}

// sync pushes the outbox and pulls one page, applying what comes back.
func (p *phone) sync(pageBytes int) syncReply {
	p.e.t.Helper()
	req := protocol.Request{Cursor: p.cursor, PageBytes: pageBytes}
	for _, cs := range p.outbox {
		req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
	}
	body, _ := json.Marshal(req)
	r := p.e.do("POST", "/v1/sync", p.auth(), body)
	out := syncReply{status: r.status, raw: r.body}
	if r.status != 200 {
		r.json(p.e.t, &out.err)
		return out
	}
	r.json(p.e.t, &out.Response)
	p.outbox = nil
	if out.Reset {
		for _, r := range p.store.Records() {
			p.store.Drop(r.ID)
		}
	}
	for _, id := range out.Drop {
		p.store.Drop(syncengine.RecordID(id))
	}
	for _, s := range out.Snapshots {
		b, _ := base64.StdEncoding.DecodeString(s)
		recs, err := syncengine.DecodeSnapshot(b)
		must(p.e.t, err)
		for _, rec := range recs {
			p.store.Put(rec)
		}
	}
	for _, c := range out.Changesets {
		b, _ := base64.StdEncoding.DecodeString(c)
		cs, err := syncengine.DecodeChangeset(b)
		must(p.e.t, err)
		if _, err := p.rep.Apply(cs); err != nil {
			p.e.t.Fatalf("apply pulled changeset: %v", err)
		}
	}
	p.cursor = out.Cursor
	return out
}

func (p *phone) syncAll() {
	p.e.t.Helper()
	for i := 0; i < 1000; i++ {
		r := p.sync(0)
		if r.status != 200 {
			p.e.t.Fatalf("sync: %d %s", r.status, r.raw)
		}
		if !r.More {
			return
		}
	}
	p.e.t.Fatal("pull never finished")
}

func (p *phone) has(id syncengine.RecordID) bool {
	r, _ := p.store.Record(id)
	return r != nil
}

func (e *env) count(table string) int {
	var n int
	must(e.t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&n))
	return n
}

// scenario is one table-driven API case.
type scenario struct {
	name            string
	method, url     string
	headers         map[string]string
	body            []byte
	wantStatus      int
	wantCode        string
	wantContains    []string
	wantNotContains []string
}

func (e *env) run(t *testing.T, scs []scenario) {
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			r := e.do(sc.method, sc.url, sc.headers, sc.body)
			if r.status != sc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, sc.wantStatus, r.body)
			}
			if sc.wantCode != "" {
				var eb api.ErrorBody
				r.json(t, &eb)
				if eb.Code != sc.wantCode || eb.Message == "" {
					t.Fatalf("error = %+v, want code %q", eb, sc.wantCode)
				}
			}
			for _, s := range sc.wantContains {
				if !strings.Contains(string(r.body), s) {
					t.Fatalf("body %s does not contain %q", r.body, s)
				}
			}
			for _, s := range sc.wantNotContains {
				if strings.Contains(string(r.body), s) {
					t.Fatalf("body %s contains %q", r.body, s)
				}
			}
		})
	}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func basic(user string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":pw")), "Content-Type": "application/json"}
}

func TestEnrolmentAndAdmin(t *testing.T) {
	e := newEnv(t)
	w := e.enrolPhone("w_b")
	e.run(t, []scenario{
		{name: "unknown code", method: "POST", url: "/v1/enrol", headers: jsonCT, body: []byte(`{"code":"AAAAAAAA","platform":"android"}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "malformed json", method: "POST", url: "/v1/enrol", headers: jsonCT, body: []byte(`{"code":`), wantStatus: 400, wantCode: "malformed"},
		{name: "invalid platform", method: "POST", url: "/v1/enrol", headers: jsonCT, body: []byte(`{"code":"AAAAAAAA","platform":"nokia"}`), wantStatus: 422, wantCode: "invalid", wantContains: []string{`"field":"platform"`}},
		{name: "sync without credential", method: "POST", url: "/v1/sync", headers: jsonCT, body: []byte(`{}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "sync with bad credential", method: "POST", url: "/v1/sync", headers: map[string]string{"Authorization": "Bearer nope", "Content-Type": "application/json"}, body: []byte(`{}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "admin without auth", method: "POST", url: "/v1/admin/enrolment-codes", headers: jsonCT, body: []byte(`{"person_id":"w_a"}`), wantStatus: 401, wantCode: "unauthorized"},
		{name: "supervisor issues code", method: "POST", url: "/v1/admin/enrolment-codes", headers: basic("sup@example.org"), body: []byte(`{"person_id":"w_a"}`), wantStatus: 201, wantContains: []string{`"code"`}},
		{name: "supervisor cannot issue for team B", method: "POST", url: "/v1/admin/enrolment-codes", headers: basic("sup@example.org"), body: []byte(`{"person_id":"w_b"}`), wantStatus: 403, wantCode: "forbidden"},
		{name: "supervisor cannot revoke team B device", method: "POST", url: "/v1/admin/devices/" + w.enrol.DeviceID + "/revoke", headers: basic("sup@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "unknown device", method: "POST", url: "/v1/admin/devices/dev_nope/revoke", headers: basic("admin@example.org"), wantStatus: 404, wantCode: "not_found"},
		{name: "supervisor may not back up", method: "POST", url: "/v1/admin/backup", headers: basic("sup@example.org"), wantStatus: 403, wantCode: "forbidden"},
		{name: "admin backs up", method: "POST", url: "/v1/admin/backup", headers: basic("admin@example.org"), wantStatus: 201, wantContains: []string{`"path"`}},
		{name: "health", method: "GET", url: "/healthz", wantStatus: 200},
		{name: "ready", method: "GET", url: "/readyz", wantStatus: 200, wantContains: []string{`"ready"`}},
		{name: "unknown route", method: "GET", url: "/v1/nope", wantStatus: 404, wantCode: "not_found"},
	})
}

func TestPushPullScopesAndIdempotence(t *testing.T) {
	e := newEnv(t)
	a1, a2, b := e.enrolPhone("w_a"), e.enrolPhone("w_a2"), e.enrolPhone("w_b")
	for _, p := range []*phone{a1, a2, b} {
		p.syncAll()
	}
	enc := a1.newEncounter("team_a", "Met by the ramp. <script>alert(1)</script> 😀")
	cs := a1.outbox[0]
	// The same changeset three times: accepted once, then duplicates.
	for i, want := range []string{"accepted", "duplicate", "duplicate"} {
		a1.outbox = []*syncengine.Changeset{cs}
		r := a1.sync(0)
		if r.status != 200 || len(r.Results) != 1 || r.Results[0].Status != want {
			t.Fatalf("push %d: %d %s", i, r.status, r.raw)
		}
	}
	if n := e.count("changesets"); n != 1 {
		t.Fatalf("changesets = %d, want 1", n)
	}
	// A response lost on the way back: the server applied it, the phone retries.
	cs2 := a1.edit(func(tx *syncengine.Txn) error { return tx.Set(enc, "concern", true) })
	_, err := e.db.Sync(context.Background(), domain.SyncRequest{Device: deviceOf(t, e, a1), Person: personOf(t, e, "w_a"), Changesets: []*syncengine.Changeset{cs2}, NoPull: true})
	must(t, err)
	if r := a1.sync(0); r.Results[0].Status != "duplicate" {
		t.Fatalf("retry after lost response: %s", r.raw)
	}
	if n := e.count("changesets"); n != 2 {
		t.Fatalf("changesets = %d, want 2", n)
	}
	a2.syncAll()
	b.syncAll()
	if !a2.has(enc) {
		t.Fatal("team-mate did not receive the encounter")
	}
	if b.has(enc) {
		t.Fatal("team B received team A's encounter")
	}
	got, _ := a2.store.Record(enc)
	if note := got.Values()["note"]; note != "Met by the ramp. <script>alert(1)</script> 😀" {
		t.Fatalf("note stored as %q", note)
	}
	// Team B writing to team A's record is quarantined, not applied, not dropped.
	b.store.Put(got.Clone())
	b.edit(func(tx *syncengine.Txn) error { return tx.Set(enc, "concern_level", "high") })
	r := b.sync(0)
	if r.Results[0].Status != "quarantined" || r.Results[0].Code != "forbidden" {
		t.Fatalf("cross-team write: %s", r.raw)
	}
	q, err := e.db.Quarantine(context.Background(), domain.QuarantineFilter{Open: true})
	must(t, err)
	if len(q) != 1 || q[0].Code != "forbidden" {
		t.Fatalf("quarantine = %+v", q)
	}
	rec, err := e.db.RecordState(context.Background(), string(enc))
	must(t, err)
	if rec.String("concern_level") == "high" {
		t.Fatal("forbidden write was applied")
	}
	// Team A's supervisor reviews the attempt to write into their team, and discards it.
	e.run(t, []scenario{
		{name: "list quarantine", method: "GET", url: "/v1/admin/quarantine", headers: basic("sup@example.org"), wantStatus: 200, wantContains: []string{`"forbidden"`}},
		{name: "discard", method: "POST", url: fmt.Sprintf("/v1/admin/quarantine/%d/review", q[0].ID), headers: basic("sup@example.org"), body: []byte(`{"resolution":"discard"}`), wantStatus: 200},
		{name: "discard twice", method: "POST", url: fmt.Sprintf("/v1/admin/quarantine/%d/review", q[0].ID), headers: basic("sup@example.org"), body: []byte(`{"resolution":"discard"}`), wantStatus: 409, wantCode: "conflict"},
	})
}

func deviceOf(t *testing.T, e *env, p *phone) domain.Device {
	d, err := e.db.Device(context.Background(), p.enrol.DeviceID)
	must(t, err)
	return d
}

func personOf(t *testing.T, e *env, id string) domain.Person {
	p, err := e.db.Person(context.Background(), id)
	must(t, err)
	return p
}

func TestPagingNeverSplitsAChangeset(t *testing.T) {
	e := newEnv(t)
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a1.syncAll()
	a2.syncAll() // empty snapshot: a2 now pulls history
	var ids []syncengine.RecordID
	for i := 0; i < 40; i++ {
		ids = append(ids, a1.newEncounter("team_a", strings.Repeat(fmt.Sprintf("note %d ", i), 20)))
	}
	a1.syncAll()
	pages := 0
	for {
		r := a2.sync(1024)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		pages++
		if !r.More {
			break
		}
	}
	if pages < 5 {
		t.Fatalf("pages = %d, want several", pages)
	}
	for _, id := range ids {
		if !a2.has(id) {
			t.Fatalf("missing %s after paging", id)
		}
	}
	// A new device pages through a snapshot instead of history.
	a3 := e.enrolPhone("w_a")
	snapPages := 0
	for {
		r := a3.sync(1024)
		snapPages++
		if len(r.Changesets) != 0 {
			t.Fatal("new device got history, want snapshots")
		}
		if !r.More {
			break
		}
	}
	for _, id := range ids {
		if !a3.has(id) {
			t.Fatalf("snapshot missing %s", id)
		}
	}
}

func TestServiceSeesOnlyItsReferralsProjected(t *testing.T) {
	e := newEnv(t)
	a1 := e.enrolPhone("w_a")
	a1.syncAll()
	var yp, refH, refC syncengine.RecordID
	a1.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		must(t, tx.Set(yp, "team_id", "team_a"))
		must(t, tx.Set(yp, "known_as", "Jay"))
		for _, r := range []struct {
			id  *syncengine.RecordID
			svc string
		}{{&refH, "svc_housing"}, {&refC, "svc_camhs"}} {
			if *r.id, err = tx.Create(syncengine.TypeReferral); err != nil {
				return err
			}
			for k, v := range map[string]any{"team_id": "team_a", "young_person_id": string(yp), "service_id": r.svc, "urgency": "soon", "consent": "given", "status": "submitted"} {
				must(t, tx.Set(*r.id, k, v))
			}
			must(t, tx.InsertText(*r.id, "reason", 0, "Sofa surfing"))
			must(t, tx.InsertText(*r.id, "wants", 0, "A flat"))
		}
		return nil
	})
	if r := a1.sync(0); r.Results[0].Status != "accepted" {
		t.Fatalf("push referrals: %s", r.raw)
	}
	h := e.enrolPhone("prac_h")
	h.syncAll()
	if !h.has(refH) || h.has(refC) || h.has(yp) {
		t.Fatalf("housing sees h=%v c=%v yp=%v", h.has(refH), h.has(refC), h.has(yp))
	}
	got, _ := h.store.Record(refH)
	vals := got.Values()
	if vals["reason"] != "Sofa surfing" || got.String("known_as") != "Jay" || vals["wants"] != nil || vals["consent"] != nil {
		t.Fatalf("projection = %v", vals)
	}
	// The service accepts; a worker's field is refused.
	h.edit(func(tx *syncengine.Txn) error { return tx.Set(refH, "status", "accepted") })
	if r := h.sync(0); r.Results[0].Status != "accepted" {
		t.Fatalf("service accept: %s", r.raw)
	}
	h.edit(func(tx *syncengine.Txn) error { return tx.Set(refH, "urgency", "urgent") })
	if r := h.sync(0); r.Results[0].Status != "quarantined" || r.Results[0].Code != "forbidden" {
		t.Fatalf("service writing urgency: %s", r.raw)
	}
	a1.syncAll()
	rec, _ := a1.store.Record(refH)
	if rec.String("status") != "accepted" {
		t.Fatalf("worker sees status %q", rec.String("status"))
	}
}

func TestScopeChanges(t *testing.T) {
	e := newEnv(t)
	a1, b := e.enrolPhone("w_a"), e.enrolPhone("w_b")
	a1.syncAll()
	b.syncAll()
	var yp syncengine.RecordID
	a1.edit(func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		must(t, tx.Set(yp, "team_id", "team_a"))
		return tx.Set(yp, "known_as", "Sam")
	})
	enc := a1.newEncounter("team_a", "stays with A")
	var ref syncengine.RecordID
	a1.edit(func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "young_person_id": string(yp), "status": "draft"} {
			must(t, tx.Set(ref, k, v))
		}
		return nil
	})
	a1.syncAll()
	// The young person moves to team B: a transfer, which the server writes
	// (a phone writing team_id is refused: TestTeamIDWritesCannotMoveRecords).
	rep, _, err := e.db.ServerReplica(context.Background())
	must(t, err)
	_, err = rep.Edit("sup_a", func(tx *syncengine.Txn) error { return tx.Set(yp, "team_id", "team_b") })
	must(t, err)
	a1.syncAll()
	b.syncAll()
	if !b.has(yp) || !b.has(ref) {
		t.Fatalf("team B did not receive the young person who moved in (yp %v) with their referral (%v)", b.has(yp), b.has(ref))
	}
	// Team A's phone was told to drop them on the next pull.
	if a1.has(yp) || a1.has(ref) {
		t.Fatalf("team A phone still holds yp %v referral %v", a1.has(yp), a1.has(ref))
	}
	a2 := e.enrolPhone("w_a2")
	a2.syncAll()
	if a2.has(yp) || a2.has(ref) || !a2.has(enc) {
		t.Fatal("team A snapshot scope wrong")
	}
	// Team B can now work on the referral; team A cannot.
	b.edit(func(tx *syncengine.Txn) error { return tx.InsertText(ref, "reason", 0, "Needs a move-on flat") })
	if r := b.sync(0); r.Results[0].Status != "accepted" {
		t.Fatalf("team B edit of the moved referral: %s", r.raw)
	}
	// Worker A moves to team B: the phone is reset to team B's records.
	must(t, e.db.UpsertPerson(context.Background(), domain.Person{ID: "w_a", Name: "Worker A", Role: "worker", TeamID: "team_b"}))
	r := a1.sync(0)
	if !r.Reset {
		t.Fatalf("worker move: want reset, got %s", r.raw)
	}
	a1.syncAll()
	if a1.has(enc) || !a1.has(yp) {
		t.Fatal("after moving team the phone should hold team B's records only")
	}
}

func TestRevokedDeviceIsToldToWipe(t *testing.T) {
	e := newEnv(t)
	a1 := e.enrolPhone("w_a")
	a1.syncAll()
	e.run(t, []scenario{
		{name: "revoke", method: "POST", url: "/v1/admin/devices/" + a1.enrol.DeviceID + "/revoke", headers: basic("sup@example.org"), body: []byte(`{"reason":"lost"}`), wantStatus: 200},
		{name: "revoked sync", method: "POST", url: "/v1/sync", headers: a1.auth(), body: []byte(`{}`), wantStatus: 401, wantCode: "revoked", wantContains: []string{`"wipe":true`}},
		{name: "revoked events", method: "GET", url: "/v1/sync/events", headers: a1.auth(), wantStatus: 401, wantCode: "revoked"},
		{name: "wipe confirmed", method: "POST", url: "/v1/sync/wiped", headers: a1.auth(), wantStatus: 200},
	})
	audit, err := e.db.Audit(context.Background(), domain.AuditFilter{DeviceID: a1.enrol.DeviceID, Action: "revoke"})
	must(t, err)
	if len(audit) != 1 || audit[0].PersonID != "sup_a" {
		t.Fatalf("revoke audit = %+v", audit)
	}
}

func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	a1 := e.enrolPhone("w_a")
	a1.syncAll()
	enc := a1.newEncounter("team_a", "kept safe")
	a1.syncAll()
	before := e.count("changesets")
	good, _ := e.db.RecordState(context.Background(), string(enc))
	goodBytes := syncengine.EncodeRecord(good)

	// A changeset that breaks a field rule, built past the phone's own checks.
	bad := a1.edit(func(tx *syncengine.Txn) error { return tx.Set(enc, "concern_level", "high") })
	a1.outbox = nil
	for i := range bad.Ops {
		if bad.Ops[i].Field == "concern_level" {
			bad.Ops[i].Value = json.RawMessage(`"apocalyptic"`)
		}
	}
	badFrame := base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(bad))
	snappyGarbage := base64.StdEncoding.EncodeToString(append([]byte("JUC\x01"), 0x20, 0xff, 0xff, 0xff, 1, 2, 3))
	snappyBomb := base64.StdEncoding.EncodeToString(append([]byte("JUC\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3))
	auth := a1.auth()
	bin := map[string]string{"Authorization": auth["Authorization"], "Content-Type": api.BinaryContentType}
	e.run(t, []scenario{
		{name: "malformed json", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"cursor":`), wantStatus: 400, wantCode: "malformed"},
		{name: "bad base64", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"changesets":["!!!"]}`), wantStatus: 400, wantCode: "malformed"},
		{name: "bad base64 in the second changeset", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"changesets":["SlVDAQ==","!!!"]}`), wantStatus: 400, wantCode: "malformed", wantContains: []string{`"index":1`, "not valid base64"}},
		{name: "bad snappy frame", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"changesets":["` + snappyGarbage + `"]}`), wantStatus: 400, wantCode: "malformed"},
		{name: "snappy bomb", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"changesets":["` + snappyBomb + `"]}`), wantStatus: 413, wantCode: "too_large"},
		{name: "wrong magic", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"changesets":["` + base64.StdEncoding.EncodeToString([]byte("hello world")) + `"]}`), wantStatus: 400, wantCode: "malformed"},
		{name: "bad binary framing", method: "POST", url: "/v1/sync", headers: bin, body: []byte("JUP\x01\xff\xff\xff"), wantStatus: 400, wantCode: "malformed"},
		{name: "wrong content type", method: "POST", url: "/v1/sync", headers: map[string]string{"Authorization": auth["Authorization"], "Content-Type": "text/plain"}, body: []byte(`x`), wantStatus: 400, wantCode: "malformed"},
		{name: "bad cursor", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"cursor":"x.y.z"}`), wantStatus: 422, wantCode: "invalid"},
		{name: "negative pending", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"pending":-1}`), wantStatus: 422, wantCode: "invalid"},
		{name: "invalid field is quarantined", method: "POST", url: "/v1/sync", headers: auth, body: []byte(`{"no_pull":true,"changesets":["` + badFrame + `"]}`), wantStatus: 200, wantContains: []string{`"quarantined"`, `"invalid"`}, wantNotContains: []string{"apocalyptic"}},
	})
	// Oversized bodies are refused by the HTTP server before any handler: real loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go e.srv.Serve(ln)
	defer e.srv.App.Shutdown()
	// Declare a body over the limit; the server must answer 413 without reading it.
	conn, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	fmt.Fprintf(conn, "POST /v1/sync HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", auth["Authorization"], 300<<10)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	must(t, err)
	var eb api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode != 413 || eb.Code != "too_large" {
		t.Fatalf("oversized: %d %+v", resp.StatusCode, eb)
	}
	if n := e.count("changesets"); n != before {
		t.Fatalf("changesets %d -> %d after hostile input", before, n)
	}
	after, _ := e.db.RecordState(context.Background(), string(enc))
	if !bytes.Equal(syncengine.EncodeRecord(after), goodBytes) {
		t.Fatal("record altered by hostile input")
	}
}

func TestBinarySync(t *testing.T) {
	e := newEnv(t)
	a1, a2 := e.enrolPhone("w_a"), e.enrolPhone("w_a2")
	a2.syncAll()
	a1.newEncounter("team_a", "binary")
	body, err := protocol.Encode(protocol.Request{}, [][]byte{syncengine.EncodeChangeset(a1.outbox[0])})
	must(t, err)
	r := e.do("POST", "/v1/sync", map[string]string{"Authorization": "Bearer " + a1.enrol.Credential, "Content-Type": api.BinaryContentType}, body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var hdr protocol.Response
	groups, err := protocol.Decode(r.body, &hdr, 2)
	must(t, err)
	if len(hdr.Results) != 1 || hdr.Results[0].Status != "accepted" || len(groups) != 2 {
		t.Fatalf("binary reply %+v", hdr)
	}
	_ = http.StatusOK
}
