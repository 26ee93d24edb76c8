package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// clock is the injected, settable clock shared by the store, the API, the
// outbox and the sender.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var london = mustLoc("Europe/London")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// Monday 2 March 2026, 10:00 in London (GMT): inside the services' 09-17,
// outside the youth workers' 18-22.
var monday10 = time.Date(2026, 3, 2, 10, 0, 0, 0, london)

func weekdays(start, end string) json.RawMessage {
	var hs []push.Hours
	for d := time.Monday; d <= time.Friday; d++ {
		hs = append(hs, push.Hours{Weekday: d, Start: start, End: end})
	}
	b, _ := json.Marshal(hs)
	return b
}

// env is a whole server on loopback over a real SQLite file, with the notify
// rules installed as the store's rules, a fake FCM and a real Firebase SDK
// sender.
type env struct {
	t      testing.TB
	clock  *clock
	db     *sqlite.DB
	outbox *sqlite.Outbox
	fake   *fcmfake.Server
	sender *push.Sender
	srv    *api.Server
	url    string
	notes  *notify.Notifier
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{t: tb, clock: &clock{t: monday10}}
	ctx := context.Background()
	e.db = sqlite.NewDB(filepath.Join(tb.TempDir(), "joinedup.db"))
	e.db.Now = e.clock.Now
	must(tb, e.db.Open()) // migration 10 creates the outbox
	tb.Cleanup(func() { e.db.Close() })

	must(tb, e.db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(tb, e.db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(tb, e.db.UpsertTeam(ctx, domain.Team{ID: "team_b", AreaID: "north", Name: "B"}))
	must(tb, e.db.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", TZ: "Europe/London",
		Hours: weekdays("09:00", "17:00"), SharedFields: []string{"reason", "urgency", "known_as", "status"}}))
	must(tb, e.db.UpsertService(ctx, domain.Service{ID: "svc_camhs", Name: "CAMHS", Kind: "camhs", TZ: "Europe/London",
		Hours: weekdays("09:00", "17:00"), SharedFields: []string{"reason", "status"}}))
	for _, p := range []domain.Person{
		{ID: "w_a", Name: "Robin Worker", Role: "worker", TeamID: "team_a", TZ: "Europe/London", Hours: weekdays("18:00", "22:00")},
		{ID: "w_b", Name: "Sam Worker", Role: "worker", TeamID: "team_b", TZ: "Europe/London", Hours: weekdays("18:00", "22:00")},
		{ID: "sup_a", Name: "Alex Supervisor", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}, TZ: "Europe/London", Hours: weekdays("09:00", "17:00")},
		// prac_h1 keeps the service's hours (none of their own); prac_h2 has their own.
		{ID: "prac_h1", Name: "Pat Housing", Role: "practitioner", ServiceID: "svc_housing", TZ: "Europe/London"},
		{ID: "prac_h2", Name: "Jo Housing", Role: "practitioner", ServiceID: "svc_housing", TZ: "Europe/London", Hours: weekdays("10:00", "14:00")},
		{ID: "prac_c1", Name: "Lee Camhs", Role: "practitioner", ServiceID: "svc_camhs", TZ: "Europe/London"},
	} {
		must(tb, e.db.UpsertPerson(ctx, p))
	}

	e.outbox = e.db.Outbox()
	cfg := notify.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.notes = notify.New(cfg)
	e.db.Rules = e.notes

	e.fake = fcmfake.New()
	tb.Cleanup(e.fake.Close)
	var err error
	e.sender, err = push.NewSender(ctx, push.Config{
		ProjectID: "joinedup-test", Endpoint: e.fake.URL, Now: e.clock.Now, Owner: "test",
		Lease: 30 * time.Second, Rand: func() float64 { return 0.5 },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options: []option.ClientOption{option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "test", TokenType: "Bearer"}))},
	}, e.outbox)
	must(tb, err)

	acfg := api.DefaultConfig()
	acfg.Now = e.clock.Now
	acfg.RateLimit = 0
	e.srv = api.New(e.db, acfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.srv.MountPush(e.outbox)
	e.srv.NotFound()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	e.url = "http://" + ln.Addr().String()
	go e.srv.Serve(ln)
	tb.Cleanup(func() { e.srv.App.Shutdown() })
	return e
}

func (e *env) post(path, cred string, body any) (int, []byte) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// sendDue runs the real sender once and returns the messages FCM received
// since the last call, by token.
func (e *env) sendDue() map[string][]fcmfake.Received {
	e.t.Helper()
	e.fake.Reset()
	if _, err := e.sender.SendDue(context.Background()); err != nil {
		e.t.Fatalf("SendDue: %v", err)
	}
	out := map[string][]fcmfake.Received{}
	for _, r := range e.fake.Requests() {
		out[r.Token] = append(out[r.Token], r)
	}
	return out
}

type outboxRow struct {
	Recipient, Kind, Record, State string
	Urgent                         bool
	NotBefore                      time.Time
}

func (e *env) rows(recordID string) []outboxRow {
	e.t.Helper()
	rs, err := e.db.SQL().Query(`SELECT recipient_id, kind, record_id, state, urgent, not_before FROM push_outbox
		WHERE ? = '' OR record_id = ? ORDER BY kind, recipient_id, not_before`, recordID, recordID)
	must(e.t, err)
	defer rs.Close()
	var out []outboxRow
	for rs.Next() {
		var r outboxRow
		var nb int64
		must(e.t, rs.Scan(&r.Recipient, &r.Kind, &r.Record, &r.State, &r.Urgent, &nb))
		r.NotBefore = time.UnixMilli(nb).In(london)
		out = append(out, r)
	}
	return out
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	must(e.t, e.db.SQL().QueryRow(q, args...).Scan(&n))
	return n
}

// phone is an enrolled device: an engine replica over a memory store that
// syncs through the HTTP API like the app does, with an FCM token registered.
type phone struct {
	e      *env
	person string
	enrol  domain.Enrolment
	rep    *syncengine.Replica
	store  *syncengine.MemStore
	cursor string
	outbox []*syncengine.Changeset
	token  string
}

func (e *env) phone(person string) *phone {
	e.t.Helper()
	code, _, err := e.db.IssueEnrolmentCode(context.Background(), person, "sup_a")
	must(e.t, err)
	st, body := e.post("/v1/enrol", "", map[string]string{"code": code, "platform": "android"})
	if st != 201 {
		e.t.Fatalf("enrol %s: %d %s", person, st, body)
	}
	p := &phone{e: e, person: person, store: syncengine.NewMemStore(), token: "fcm-token-" + person}
	must(e.t, json.Unmarshal(body, &p.enrol))
	id, err := syncengine.ParseReplicaID(p.enrol.ReplicaID)
	must(e.t, err)
	p.rep, err = syncengine.NewReplica(syncengine.Config{ID: id, Now: e.clock.Now, Rand: rand.Reader, Store: p.store})
	must(e.t, err)
	st, body = e.post("/v1/push/token", p.enrol.Credential, map[string]string{"token": p.token, "platform": "android"})
	if st != 200 {
		e.t.Fatalf("register token %s: %d %s", person, st, body)
	}
	return p
}

func (p *phone) edit(fn func(tx *syncengine.Txn) error) {
	p.e.t.Helper()
	cs, err := p.rep.Edit(p.person, fn)
	must(p.e.t, err)
	p.outbox = append(p.outbox, cs)
}

// sync pushes the outbox and pulls until there is nothing more; it returns
// the push results of the first round trip.
func (p *phone) sync() []protocol.PushResult {
	p.e.t.Helper()
	var results []protocol.PushResult
	for i := 0; i < 100; i++ {
		req := protocol.Request{Cursor: p.cursor}
		for _, cs := range p.outbox {
			req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
		}
		st, body := p.e.post("/v1/sync", p.enrol.Credential, req)
		if st != 200 {
			p.e.t.Fatalf("sync %s: %d %s", p.person, st, body)
		}
		var out protocol.Response
		must(p.e.t, json.Unmarshal(body, &out))
		if i == 0 {
			results = out.Results
		}
		p.outbox = nil
		if out.Reset {
			p.store = syncengine.NewMemStore()
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
		if !out.More {
			return results
		}
	}
	p.e.t.Fatal("pull never finished")
	return nil
}

func (p *phone) field(id syncengine.RecordID, name string) string {
	p.e.t.Helper()
	r, err := p.store.Record(id)
	must(p.e.t, err)
	if r == nil {
		return ""
	}
	return r.String(name)
}

func set(tx *syncengine.Txn, id syncengine.RecordID, kv ...any) error {
	for i := 0; i < len(kv); i += 2 {
		if err := tx.Set(id, kv[i].(string), kv[i+1]); err != nil {
			return fmt.Errorf("set %s: %w", kv[i], err)
		}
	}
	return nil
}

// youngPerson creates a profile in team_a.
func (p *phone) youngPerson(knownAs string, hold bool) syncengine.RecordID {
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		return set(tx, id, "team_id", "team_a", "known_as", knownAs, "age_band", "16-17", "safeguarding_hold", hold)
	})
	return id
}

// referral drafts a referral to the housing service and submits it, in two
// saves as the app does.
func (p *phone) referral(yp syncengine.RecordID, urgency, reason string) syncengine.RecordID {
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		if err := set(tx, id, "team_id", "team_a", "young_person_id", string(yp), "status", "draft"); err != nil {
			return err
		}
		return tx.InsertText(id, "reason", 0, reason)
	})
	p.edit(func(tx *syncengine.Txn) error {
		return set(tx, id, "service_id", "svc_housing", "urgency", urgency, "consent", "given",
			"submitted_at", p.e.clock.Now().UTC().Format(time.RFC3339), "status", "submitted")
	})
	return id
}

func (p *phone) answer(id syncengine.RecordID, status, reason string) {
	p.edit(func(tx *syncengine.Txn) error {
		if reason != "" {
			if err := tx.Set(id, "decline_reason", reason); err != nil {
				return err
			}
		}
		return tx.Set(id, "status", status)
	})
}

func kinds(rs []fcmfake.Received) []string {
	var out []string
	for _, r := range rs {
		msg, _ := r.Message["data"].(map[string]any)
		out = append(out, fmt.Sprint(msg["kind"]))
	}
	sort.Strings(out)
	return out
}

func dataOf(r fcmfake.Received) map[string]any {
	d, _ := r.Message["data"].(map[string]any)
	return d
}

// noPersonalData fails if any payload FCM received mentions a name, a
// young person's known-as, or words of the referral's reason.
func noPersonalData(t testing.TB, got map[string][]fcmfake.Received, secrets ...string) {
	t.Helper()
	for tok, rs := range got {
		for _, r := range rs {
			body := strings.ToLower(string(r.Body))
			for _, s := range secrets {
				if strings.Contains(body, strings.ToLower(s)) {
					t.Fatalf("payload to %s contains %q: %s", tok, s, r.Body)
				}
			}
		}
	}
}
