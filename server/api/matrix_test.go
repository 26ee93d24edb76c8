package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/portal"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"golang.org/x/crypto/bcrypt"
)

// The authorization matrix: every role × every record (each type, owned by
// the role's team, another team, the role's service, another service, or
// transferred between teams) × every operation × both paths (sync push and
// pull; the portal where the operation exists there), against a real server
// on loopback. Expectations are written out here from the documented rules
// (docs/authorization.md), not taken from the policy code. Allowed
// operations must succeed; refused ones get 403/404 (portal), 401 (no or
// revoked credentials) or are quarantined as forbidden, and leave the record
// exactly as it was.

type mRole struct {
	name     string
	person   string // "" for no credentials
	teams    []string
	service  string
	revoked  bool
	email    string // portal sign-in ("" : none)
	portalOK bool   // the portal has pages for this role
}

var matrixRoles = []mRole{
	{name: "worker A", person: "w_a", teams: []string{"team_a"}, email: "wa@example.org"},
	{name: "worker B", person: "w_b", teams: []string{"team_b"}, email: "wb@example.org"},
	{name: "supervisor A", person: "sup_a", teams: []string{"team_a"}, email: "sup@example.org", portalOK: true},
	{name: "supervisor B", person: "sup_b", teams: []string{"team_b"}, email: "supb@example.org", portalOK: true},
	{name: "practitioner X", person: "prac_h", service: "svc_housing", email: "px@example.org", portalOK: true},
	{name: "practitioner Y", person: "prac_c", service: "svc_camhs", email: "py@example.org", portalOK: true},
	{name: "admin", person: "admin", email: "admin@example.org", portalOK: true},
	{name: "revoked device", person: "w_a", teams: []string{"team_a"}, revoked: true},
	{name: "no credentials"},
}

// mRecord is a seeded record: its type, the team that owns it now and the
// service it is shared with.
type mRecord struct {
	key, typ, team, service string
	transferred             bool
	id                      syncengine.RecordID
}

func (r mRecord) ownership(role mRole) string {
	switch {
	case r.typ == syncengine.TypeService:
		return "directory"
	case role.service != "" && r.service == role.service:
		return "own service"
	case role.service != "" && r.service != "":
		return "other service"
	case r.transferred && slices.Contains(role.teams, r.team):
		return "transferred in"
	case r.transferred:
		return "transferred out"
	case slices.Contains(role.teams, r.team):
		return "own team"
	}
	return "other team"
}

// wantSync is the documented rule for a sync operation on an existing
// record. Operations run in order on one server per role, so "undelete"
// follows an allowed "delete" (team roles, admin) or acts on a record the
// role may not write at all.
func wantSync(role mRole, r mRecord, op string) bool {
	if role.person == "" || role.revoked || op == "move" {
		return false
	}
	if role.person == "admin" {
		return true
	}
	if role.service != "" {
		return r.typ == syncengine.TypeReferral && r.service == role.service && (op == "set" || op == "accept" || op == "read")
	}
	if r.typ == syncengine.TypeService || !slices.Contains(role.teams, r.team) {
		return false
	}
	super := strings.HasPrefix(role.person, "sup_")
	switch op {
	case "erase", "signoff":
		return super
	case "undelete": // the record is deleted: the delete before it was allowed
		return super
	case "accept":
		return false
	}
	return true // read, set, delete, withdraw
}

// wantCreate: a record of typ filed under team (a referral or follow-up:
// its young person's team).
func wantCreate(role mRole, typ, team string) bool {
	switch {
	case role.person == "" || role.revoked || role.service != "" || typ == "pet":
		return false
	case role.person == "admin":
		return true
	case typ == syncengine.TypeService:
		return false
	}
	return slices.Contains(role.teams, team)
}

// wantPortal is the documented rule for a portal operation.
func wantPortal(role mRole, r mRecord, op string) bool {
	if !role.portalOK {
		return false
	}
	if op == "service-read" || op == "service-accept" {
		if r.typ != syncengine.TypeReferral || r.service == "" {
			return false
		}
		return role.service == r.service || (role.person == "admin" && op == "service-read")
	}
	if role.service != "" {
		return false // practitioners have no team pages
	}
	if role.person == "admin" {
		return true
	}
	if !slices.Contains(role.teams, r.team) {
		return false
	}
	return true // supervisors: read, sign off, resolve, undelete, erase
}

// matrixSeed builds the organisation and records once, in a database file
// each role's server starts from a copy of.
func matrixSeed(t *testing.T) (string, []mRecord) {
	e := newEnv(t)
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, p := range []domain.Person{
		{ID: "w_a", Name: "Worker A", Email: "wa@example.org", Role: "worker", TeamID: "team_a"},
		{ID: "w_b", Name: "Worker B", Email: "wb@example.org", Role: "worker", TeamID: "team_b"},
		{ID: "sup_b", Name: "Sup B", Email: "supb@example.org", Role: "supervisor", TeamID: "team_b", Supervises: []string{"team_b"}},
		{ID: "prac_h", Name: "Housing P", Email: "px@example.org", Role: "practitioner", ServiceID: "svc_housing"},
		{ID: "prac_c", Name: "CAMHS P", Email: "py@example.org", Role: "practitioner", ServiceID: "svc_camhs"},
	} {
		p.PasswordHash = string(hash)
		must(t, e.db.UpsertPerson(ctx, p))
	}
	rep, _, err := e.db.ServerReplica(ctx)
	must(t, err)
	var recs []mRecord
	create := func(author string, r mRecord, fields map[string]any) syncengine.RecordID {
		_, err := rep.Edit(author, func(tx *syncengine.Txn) (err error) {
			if r.id, err = tx.Create(r.typ); err != nil {
				return err
			}
			setAll(t, tx, r.id, fields)
			if r.typ == syncengine.TypeReferral {
				return tx.InsertText(r.id, "reason", 0, "Sofa surfing")
			}
			return nil
		})
		must(t, err)
		recs = append(recs, r)
		return r.id
	}
	for _, x := range []struct{ team, svc, worker, sfx string }{{"team_a", "svc_housing", "w_a", "A"}, {"team_b", "svc_camhs", "w_b", "B"}} {
		create(x.worker, mRecord{key: "encounter " + x.sfx, typ: syncengine.TypeEncounter, team: x.team},
			map[string]any{"team_id": x.team, "area": "park", "started_at": e.now.Add(-time.Hour)})
		yp := create(x.worker, mRecord{key: "young person " + x.sfx, typ: syncengine.TypeYoungPerson, team: x.team},
			map[string]any{"team_id": x.team, "known_as": "Jo " + x.sfx})
		create(x.worker, mRecord{key: "referral " + x.sfx, typ: syncengine.TypeReferral, team: x.team, service: x.svc},
			map[string]any{"team_id": x.team, "young_person_id": string(yp), "service_id": x.svc, "urgency": "soon", "consent": "given", "status": "submitted"})
		create(x.worker, mRecord{key: "follow-up " + x.sfx, typ: syncengine.TypeFollowUp, team: x.team},
			map[string]any{"team_id": x.team, "young_person_id": string(yp), "assignee": x.worker, "due_at": e.now.Add(24 * time.Hour), "status": "open"})
	}
	// Transferred from team B to team A, with their referral and follow-up.
	ypT := create("w_b", mRecord{key: "young person T", typ: syncengine.TypeYoungPerson, team: "team_a", transferred: true},
		map[string]any{"team_id": "team_b", "known_as": "Tee"})
	create("w_b", mRecord{key: "referral T", typ: syncengine.TypeReferral, team: "team_a", service: "svc_housing", transferred: true},
		map[string]any{"team_id": "team_b", "young_person_id": string(ypT), "service_id": "svc_housing", "urgency": "soon", "consent": "given", "status": "submitted"})
	create("w_b", mRecord{key: "follow-up T", typ: syncengine.TypeFollowUp, team: "team_a", transferred: true},
		map[string]any{"team_id": "team_b", "young_person_id": string(ypT), "assignee": "w_b", "due_at": e.now.Add(24 * time.Hour), "status": "open"})
	_, err = rep.Edit("sup_b", func(tx *syncengine.Txn) error { return tx.Set(ypT, "team_id", "team_a") })
	must(t, err)
	create("admin", mRecord{key: "service record", typ: syncengine.TypeService},
		map[string]any{"name": "Housing", "kind": "housing"})
	for _, r := range recs {
		if team, svc := e.filedUnder(r.id); team != r.team || svc != r.service {
			t.Fatalf("seed: %s filed under %q/%q, want %q/%q", r.key, team, svc, r.team, r.service)
		}
	}
	must(t, e.db.Close())
	return e.db.Path, recs
}

// matrixServer serves a copy of the seed database on loopback, with the
// portal mounted as Main mounts it.
func matrixServer(t *testing.T, seed string) (*env, string) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	b, err := os.ReadFile(seed)
	must(t, err)
	must(t, os.WriteFile(path, b, 0o600))
	db := sqlite.NewDB(path)
	e := &env{t: t, db: db, now: time.Date(2025, 10, 20, 19, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { return e.now }
	must(t, db.Open())
	t.Cleanup(func() { db.Close() })
	cfg := api.DefaultConfig()
	cfg.BackupDir = filepath.Join(t.TempDir(), "backups")
	cfg.Now = func() time.Time { return e.now }
	cfg.RateBurst = 1 << 20 // the clock stands still: the bucket never refills
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	e.srv = api.New(db, cfg, logger)
	pcfg := portal.DefaultConfig()
	pcfg.InsecureCookies = true
	pcfg.Now = func() time.Time { return e.now }
	portal.New(pcfg, portal.Deps{Store: db, Logger: logger, SignIn: e.srv.SignIn}).Register(e.srv.App)
	e.srv.NotFound()
	return e, e.serve(t)
}

// pullAll pulls everything a device may see and returns the record ids it received.
func (h *hostile) pullAll() map[syncengine.RecordID]bool {
	got := map[syncengine.RecordID]bool{}
	cursor := ""
	for i := 0; i < 100; i++ {
		body, _ := json.Marshal(protocol.Request{Cursor: cursor})
		hr, _ := http.NewRequest("POST", h.base+"/v1/sync", bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+h.enrol.Credential)
		hr.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(hr)
		must(h.t, err)
		var r protocol.Response
		must(h.t, json.NewDecoder(resp.Body).Decode(&r))
		resp.Body.Close()
		for _, s := range r.Snapshots {
			b, _ := base64.StdEncoding.DecodeString(s)
			recs, err := syncengine.DecodeSnapshot(b)
			must(h.t, err)
			for _, rec := range recs {
				got[rec.ID] = true
			}
		}
		for _, c := range r.Changesets {
			b, _ := base64.StdEncoding.DecodeString(c)
			cs, err := syncengine.DecodeChangeset(b)
			must(h.t, err)
			for _, d := range cs.Deps {
				got[d.Record] = true
			}
		}
		cursor = r.Cursor
		if !r.More {
			break
		}
	}
	return got
}

type mCounter struct {
	t     *testing.T
	cells int
}

// check records one cell: allowed must be what was wanted.
func (m *mCounter) check(path string, role mRole, what, ownership string, want, got bool, detail string) {
	m.t.Helper()
	m.cells++
	if want != got {
		m.t.Errorf("%s | %s | %s | %s: allowed=%v, want %v (%s)", path, role.name, what, ownership, got, want, detail)
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	seed, recs := matrixSeed(t)
	m := &mCounter{t: t}
	for _, role := range matrixRoles {
		t.Run("sync/"+role.name, func(t *testing.T) {
			mm := &mCounter{t: t}
			matrixSync(t, mm, seed, recs, role)
			m.cells += mm.cells
		})
		t.Run("portal/"+role.name, func(t *testing.T) {
			mm := &mCounter{t: t}
			matrixPortal(t, mm, seed, recs, role)
			m.cells += mm.cells
		})
	}
	t.Logf("authorization matrix: %d roles, %d records, %d cells", len(matrixRoles), len(recs), m.cells)
	if testing.Verbose() {
		fmt.Printf("authorization matrix: %d roles × %d seeded records (+ creates) × operations × 2 paths = %d cells\n", len(matrixRoles), len(recs), m.cells)
	}
}

func matrixSync(t *testing.T, m *mCounter, seed string, recs []mRecord, role mRole) {
	e, base := matrixServer(t, seed)
	ctx := context.Background()
	var h *hostile
	if role.person != "" {
		h = e.hostilePhone(base, role.person)
		if role.revoked {
			must(t, e.db.RevokeDevice(ctx, h.enrol.DeviceID, "admin", "lost"))
		}
	} else {
		h = &hostile{t: t, e: e, base: base, store: syncengine.NewMemStore(), enrol: domain.Enrolment{Credential: "none", PersonID: "w_a"}}
		id, _ := syncengine.NewReplicaID(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
		h.rep = h.replica(id, 0, e.now)
	}
	author := h.enrol.PersonID

	// Read: what a pull delivers.
	var seen map[syncengine.RecordID]bool
	if role.person != "" && !role.revoked {
		seen = h.pullAll()
	}
	for _, r := range recs {
		m.check("sync", role, "read "+r.typ, r.ownership(role), wantSync(role, r, "read"), seen[r.id], "pull")
	}

	// push runs one forged changeset and reports whether it was accepted,
	// failing if a refusal changed anything.
	push := func(what string, ids []syncengine.RecordID, fn func(tx *syncengine.Txn) error) bool {
		t.Helper()
		h.forget()
		var before [][]byte
		for _, id := range ids {
			h.know(id)
			before = append(before, syncengine.EncodeRecord(e.stored(id)))
		}
		cs, err := h.rep.Edit(author, fn)
		if err != nil {
			t.Fatalf("%s: forge: %v", what, err)
		}
		if what == "create pet" {
			cs.Ops[0].Type = "pet"
		}
		r := h.push(cs)
		switch {
		case r.status == 200 && len(r.results) == 1 && r.results[0].Status == protocol.StatusAccepted:
			return true
		case r.status == 200 && len(r.results) == 1 && r.results[0].Status == protocol.StatusQuarantined && r.results[0].Code == domain.EFORBIDDEN && r.results[0].Message != "":
		case r.status == 401 && (role.person == "" || role.revoked):
		case r.status == 403 && r.err.Code == domain.EFORBIDDEN:
		default:
			t.Fatalf("%s: unexpected answer %d %s", what, r.status, r.raw)
		}
		for i, id := range ids {
			if !bytes.Equal(before[i], syncengine.EncodeRecord(e.stored(id))) {
				t.Fatalf("%s was refused but changed record %s", what, id)
			}
		}
		if cs.Ops[0].Kind == syncengine.OpCreate && e.stored(cs.Ops[0].Record) != nil {
			t.Fatalf("%s was refused but the record exists", what)
		}
		return false
	}

	// Writes on every seeded record, least destructive first.
	fieldOf := map[string][2]any{syncengine.TypeEncounter: {"area", "bus station"}, syncengine.TypeYoungPerson: {"area", "north"},
		syncengine.TypeReferral: {"outcome", "seen"}, syncengine.TypeFollowUp: {"kind", "check_in"}, syncengine.TypeService: {"contact", "0800"}}
	for _, r := range recs {
		id, own := r.id, r.ownership(role)
		f := fieldOf[r.typ]
		ops := []struct {
			op string
			fn func(tx *syncengine.Txn) error
		}{
			{"set", func(tx *syncengine.Txn) error { return tx.Set(id, f[0].(string), f[1]) }},
			{"move", func(tx *syncengine.Txn) error {
				to := "team_a"
				if r.team == "team_a" {
					to = "team_b"
				}
				return tx.Set(id, "team_id", to)
			}},
		}
		if r.typ == syncengine.TypeEncounter {
			ops = append(ops, struct {
				op string
				fn func(tx *syncengine.Txn) error
			}{"signoff", func(tx *syncengine.Txn) error {
				must(t, tx.Set(id, "review_status", "signed_off"))
				return tx.Set(id, "signed_off_by", author)
			}})
		}
		if r.typ == syncengine.TypeReferral {
			ops = append(ops, struct {
				op string
				fn func(tx *syncengine.Txn) error
			}{"accept", func(tx *syncengine.Txn) error { return tx.Set(id, "status", "accepted") }},
				struct {
					op string
					fn func(tx *syncengine.Txn) error
				}{"withdraw", func(tx *syncengine.Txn) error { return tx.Set(id, "status", "withdrawn") }})
		}
		ops = append(ops, struct {
			op string
			fn func(tx *syncengine.Txn) error
		}{"delete", func(tx *syncengine.Txn) error { return tx.Delete(id) }},
			struct {
				op string
				fn func(tx *syncengine.Txn) error
			}{"undelete", func(tx *syncengine.Txn) error { return tx.Undelete(id) }},
			struct {
				op string
				fn func(tx *syncengine.Txn) error
			}{"erase", func(tx *syncengine.Txn) error { return tx.Erase(id, "matrix") }})
		for _, o := range ops {
			m.check("sync", role, o.op+" "+r.typ, own, wantSync(role, r, o.op), push(o.op+" "+r.key, []syncengine.RecordID{id}, o.fn), r.key)
		}
	}

	// Creates, in each team (referrals and follow-ups: for a young person of
	// each team; the transferred young person is now team A's).
	yps := map[string]syncengine.RecordID{}
	for _, r := range recs {
		if r.typ == syncengine.TypeYoungPerson {
			yps[r.key] = r.id
		}
	}
	for _, team := range []string{"team_a", "team_b"} {
		for _, typ := range []string{syncengine.TypeEncounter, syncengine.TypeYoungPerson} {
			team, typ := team, typ
			got := push("create "+typ, nil, func(tx *syncengine.Txn) error {
				id, err := tx.Create(typ)
				if err != nil {
					return err
				}
				if typ == syncengine.TypeEncounter {
					setAll(t, tx, id, map[string]any{"team_id": team, "area": "park", "started_at": e.now.Add(-time.Hour)})
				} else {
					setAll(t, tx, id, map[string]any{"team_id": team, "known_as": "New"})
				}
				return nil
			})
			m.check("sync", role, "create "+typ, team, wantCreate(role, typ, team), got, "")
		}
	}
	for _, key := range []string{"young person A", "young person B", "young person T"} {
		yp, team := yps[key], "team_a"
		if key == "young person B" {
			team = "team_b"
		}
		assignee := map[string]string{"team_a": "w_a", "team_b": "w_b"}[team]
		got := push("create referral", nil, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeReferral)
			if err != nil {
				return err
			}
			setAll(t, tx, id, map[string]any{"team_id": team, "young_person_id": string(yp), "service_id": "svc_housing", "urgency": "soon", "consent": "given", "status": "submitted"})
			return tx.InsertText(id, "reason", 0, "Needs a flat")
		})
		m.check("sync", role, "create referral for "+key, team, wantCreate(role, syncengine.TypeReferral, team), got, "")
		got = push("create follow-up", nil, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeFollowUp)
			if err != nil {
				return err
			}
			setAll(t, tx, id, map[string]any{"team_id": team, "young_person_id": string(yp), "assignee": assignee, "due_at": e.now.Add(24 * time.Hour), "status": "open"})
			return nil
		})
		m.check("sync", role, "create follow-up for "+key, team, wantCreate(role, syncengine.TypeFollowUp, team), got, "")
	}
	for _, typ := range []string{syncengine.TypeService, "pet"} {
		got := push("create "+typ, nil, func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeService)
			if err != nil {
				return err
			}
			setAll(t, tx, id, map[string]any{"name": "New service", "kind": "housing"})
			return nil
		})
		m.check("sync", role, "create "+typ, "directory", wantCreate(role, typ, ""), got, "")
	}
}

var csrfPattern = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// portalClient is a browser on loopback: cookies and the CSRF token.
type portalClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newPortalClient(t *testing.T, base, email string) *portalClient {
	jar, _ := cookiejar.New(nil)
	pc := &portalClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if email == "" {
		return pc
	}
	_, body := pc.do("GET", "/portal/login", nil)
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf on the sign-in page")
	}
	if status, body := pc.do("POST", "/portal/login", url.Values{"_csrf": {m[1]}, "email": {email}, "password": {"pw"}}); status != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d %.300s", email, status, body)
	}
	pc.do("GET", "/portal/", nil)
	return pc
}

func (pc *portalClient) do(method, path string, form url.Values) (int, string) {
	var body io.Reader
	if form != nil {
		if pc.csrf != "" && form.Get("_csrf") == "" {
			form.Set("_csrf", pc.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, pc.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := pc.c.Do(req)
	must(pc.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfPattern.FindStringSubmatch(string(b)); m != nil {
		pc.csrf = m[1]
	}
	return resp.StatusCode, string(b)
}

func matrixPortal(t *testing.T, m *mCounter, seed string, recs []mRecord, role mRole) {
	if role.revoked {
		return // a device's state; the portal signs people in
	}
	e, base := matrixServer(t, seed)
	pc := newPortalClient(t, base, role.email)
	// One cell: a request whose success is a 200 page or a 303 back to it.
	try := func(what string, r mRecord, want bool, method, path string, form url.Values, ok ...int) {
		t.Helper()
		before := syncengine.EncodeRecord(e.stored(r.id))
		status, body := pc.do(method, path, form)
		got := status == http.StatusOK || status == http.StatusSeeOther && !strings.Contains(body, "/login")
		if len(ok) > 0 {
			got = slices.Contains(ok, status)
		}
		if role.email == "" {
			got = status == http.StatusOK
		}
		if !got && status != http.StatusForbidden && status != http.StatusNotFound && status != http.StatusSeeOther && status != http.StatusUnauthorized {
			t.Fatalf("%s %s: unexpected %d %.300s", method, path, status, body)
		}
		if !got && !bytes.Equal(before, syncengine.EncodeRecord(e.stored(r.id))) {
			t.Fatalf("%s was refused but changed %s", what, r.key)
		}
		m.check("portal", role, what, r.ownership(role), want, got, fmt.Sprintf("%s %s → %d", method, path, status))
	}
	pages := map[string]string{syncengine.TypeEncounter: "/portal/encounters/", syncengine.TypeYoungPerson: "/portal/young-people/", syncengine.TypeReferral: "/portal/referrals/"}
	for _, r := range recs {
		if p, ok := pages[r.typ]; ok {
			try("read "+r.typ, r, wantPortal(role, r, "read"), "GET", p+string(r.id), nil)
		}
		if r.typ == syncengine.TypeReferral {
			q := ""
			if role.person == "admin" {
				q = "?service=" + r.service
			}
			try("service read referral", r, wantPortal(role, r, "service-read"), "GET", "/portal/service/referrals/"+string(r.id)+q, nil)
		}
	}
	for _, r := range recs {
		switch r.typ {
		case syncengine.TypeEncounter:
			try("undelete encounter", r, wantPortal(role, r, "undelete"), "POST", "/portal/encounters/"+string(r.id)+"/undelete", url.Values{})
			// No conflict to resolve: allowed answers 409 (nothing changed), refused 403/404.
			try("resolve encounter", r, wantPortal(role, r, "resolve"), "POST", "/portal/encounters/"+string(r.id)+"/resolve", url.Values{"field": {"area"}, "value": {"x"}}, http.StatusConflict)
			try("sign off encounter", r, wantPortal(role, r, "signoff"), "POST", "/portal/encounters/"+string(r.id)+"/signoff", url.Values{})
		case syncengine.TypeReferral:
			try("resolve referral", r, wantPortal(role, r, "resolve"), "POST", "/portal/referrals/"+string(r.id)+"/resolve", url.Values{"field": {"status"}, "value": {"x"}}, http.StatusConflict)
			try("service accept referral", r, wantPortal(role, r, "service-accept"), "POST", "/portal/service/referrals/"+string(r.id)+"/accept", url.Values{})
		}
	}
	for _, r := range recs {
		if r.typ == syncengine.TypeYoungPerson {
			try("erase young person", r, wantPortal(role, r, "erase"), "POST", "/portal/young-people/"+string(r.id)+"/erase",
				url.Values{"reason": {"Lawful erasure request received"}, "confirm": {string(r.id)}})
		}
	}
}
