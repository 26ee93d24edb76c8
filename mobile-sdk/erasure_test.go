package mobilesdk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"golang.org/x/crypto/bcrypt"
)

// The erasure test runs the real store and API in this process (on
// loopback) with real phones, so it can look at every file afterwards: the
// server's database, WAL and SHM, a backup restored after the erasure, and
// every phone's database decrypted with the phone's key.

// erasedWords are what the erasure request removes: the young person's name
// and a place that identifies them. None may survive anywhere.
var erasedWords = []string{"Zebedee", "Quornfield", "Flat 9b"}

type e2eServer struct {
	t   testing.TB
	dir string
	db  *sqlite.DB
	srv *api.Server
	url string
	now time.Time
}

func startE2EServer(t testing.TB) *e2eServer {
	t.Helper()
	s := &e2eServer{t: t, dir: t.TempDir(), now: time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)}
	s.open()
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	must(t, s.db.UpsertArea(ctx, domain.Area{ID: "north", Name: "North"}))
	must(t, s.db.UpsertTeam(ctx, domain.Team{ID: "team_a", AreaID: "north", Name: "A"}))
	must(t, s.db.UpsertService(ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", SharedFields: []string{"reason", "urgency", "known_as"}}))
	for _, p := range []domain.Person{
		{ID: "w_a", Name: "Worker A", Role: "worker", TeamID: "team_a"},
		{ID: "w_a2", Name: "Worker A2", Role: "worker", TeamID: "team_a"},
		{ID: "sup_a", Name: "Sup A", Email: "sup@example.org", Role: "supervisor", TeamID: "team_a", Supervises: []string{"team_a"}, PasswordHash: string(hash)},
		{ID: "prac_h", Name: "Housing P", Role: "practitioner", ServiceID: "svc_housing"},
	} {
		must(t, s.db.UpsertPerson(ctx, p))
	}
	return s
}

func (s *e2eServer) path() string { return filepath.Join(s.dir, "joinedup.db") }

// open opens the store and serves the API on a fresh loopback port.
func (s *e2eServer) open() {
	s.t.Helper()
	s.db = sqlite.NewDB(s.path())
	s.db.Now = func() time.Time { return s.now }
	must(s.t, s.db.Open())
	cfg := api.DefaultConfig()
	cfg.RateLimit = 0
	cfg.Now = func() time.Time { return s.now }
	s.srv = api.New(s.db, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	addr := "127.0.0.1:0"
	if s.url != "" {
		addr = strings.TrimPrefix(s.url, "http://") // phones keep the address they enrolled with
	}
	ln, err := net.Listen("tcp", addr)
	must(s.t, err)
	go s.srv.Serve(ln)
	s.url = "http://" + ln.Addr().String()
	s.t.Cleanup(s.close)
}

func (s *e2eServer) close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.srv.Shutdown(ctx)
		cancel()
		s.srv = nil
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}

func (s *e2eServer) phone(person string) *Client {
	s.t.Helper()
	code, _, err := s.db.IssueEnrolmentCode(context.Background(), person, "sup_a")
	must(s.t, err)
	c, err := open(s.t.TempDir(), testKey, "sim", options{now: func() time.Time { return s.now }, ownClock: true})
	must(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	mustS(s.t)(c.Enrol(s.url, code))
	mustS(s.t)(c.SyncNow())
	return c
}

func TestErasureReachesEveryCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startE2EServer(t)
	ctx := context.Background()
	p1, p2, svc := s.phone("w_a"), s.phone("w_a2"), s.phone("prac_h")
	must(t, p1.SetDefaultTeam("team_a"))
	must(t, p2.SetDefaultTeam("team_a"))

	// Phone 1 records a young person, an encounter naming them (with
	// another young person, whose part must survive), a referral to
	// housing and a follow-up.
	yp := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Zebedee","age_band":"16-17","wants":"Zebedee wants Flat 9b in Quornfield"}`))
	other := mustS(t)(p1.CreateYoungPerson(`{"known_as":"Alfie"}`))
	enc := mustS(t)(p1.CreateEncounter(fmt.Sprintf(`{"area":"Park","young_people":[%q,%q],"note":"Met Zebedee by the Quornfield canal. Alfie was there too."}`, yp, other)))
	ref := mustS(t)(p1.DraftReferral(yp, `{"service_id":"svc_housing","reason":"Zebedee needs housing away from Quornfield","urgency":"soon"}`))
	must(t, p1.RecordConsent(ref, "given", ""))
	must(t, p1.SubmitReferral(ref))
	fu := mustS(t)(p1.CreateFollowUp(fmt.Sprintf(`{"young_person_id":%q,"due_at":"2026-03-09T10:00:00Z","note":"Ring Zebedee about Flat 9b"}`, yp)))
	mustS(t)(p1.SyncNow())
	// Phone 2 receives it all and adds to the encounter: its own sent table
	// now holds the name too.
	mustS(t)(p2.SyncNow())
	must(t, p2.InsertText(enc, "note", 0, "Zebedee again. "))
	mustS(t)(p2.SyncNow())
	mustS(t)(p1.SyncNow())
	mustS(t)(svc.SyncNow())
	if v := view(t, svc, ref); string(v.Values["known_as"]) != `"Zebedee"` {
		t.Fatalf("the service phone should hold the referral (known_as), has %v", v.Values)
	}

	// A backup taken before the erasure: it holds the words (the scan works).
	backup := filepath.Join(t.TempDir(), "before.db")
	must(t, s.db.Backup(ctx, backup))
	if found := scanServerFile(t, backup); len(found) == 0 {
		t.Fatal("positive control: the backup before the erasure should hold the words")
	}
	for name, c := range map[string]*Client{"phone 1": p1, "phone 2": p2, "service phone": svc} {
		if found := scanPhone(t, c); len(found) == 0 {
			t.Fatalf("positive control: %s should hold the words before the erasure", name)
		}
	}

	// The erasure: the profile, referral and follow-up erased; the
	// encounter loses its link and the named words.
	s.now = s.now.Add(time.Hour)
	res, err := s.db.Erase(ctx, domain.ErasureRequest{By: "sup_a", YoungPersonID: yp, Reason: "subject erasure request 42", Kind: domain.ErasureByRequest,
		Erase:  []string{yp, ref, fu},
		Redact: []domain.Redaction{{EncounterID: enc, Unlink: yp, Words: erasedWords}}})
	must(t, err)
	if len(res.Erased) != 3 || len(res.Redacted) != 1 {
		t.Fatalf("erasure result %+v", res)
	}
	// Phone 2, offline, goes on writing about them before it hears of the
	// erasure: its save reaches the server after the erasure.
	must(t, p2.InsertText(yp, "wants", 0, "Zebedee also asked about Quornfield. "))
	for _, c := range []*Client{p1, p2, svc} {
		mustS(t)(c.SyncNow())
	}

	// Every phone that held the records confirmed the purge.
	notices, err := s.db.PurgeNotices(ctx, nil)
	must(t, err)
	devices := map[string]bool{}
	for _, n := range notices {
		if n.ConfirmedAt.IsZero() {
			t.Errorf("device %s (%s) has not confirmed purging %s", n.DeviceID, n.PersonID, n.RecordID)
		}
		devices[n.PersonID] = true
	}
	for _, who := range []string{"w_a", "w_a2", "prac_h"} {
		if !devices[who] {
			t.Errorf("%s's phone was never told to purge (notices: %+v)", who, notices)
		}
	}
	// The encounter keeps what was not erased.
	for _, c := range []*Client{p1, p2} {
		v := view(t, c, enc)
		var note string
		json.Unmarshal(v.Values["note"], &note)
		if !strings.Contains(note, "Alfie was there too.") || !strings.Contains(note, sqlite.RedactedMarker) {
			t.Errorf("redacted encounter note on a phone = %q", note)
		}
		if yps := string(v.Values["young_people"]); strings.Contains(yps, yp) || !strings.Contains(yps, other) {
			t.Errorf("encounter young_people after redaction = %s", yps)
		}
	}
	// The audit shows the erasure and the confirmations.
	for _, action := range []string{domain.ActionErase, domain.ActionPurged} {
		got, err := s.db.Audit(ctx, domain.AuditFilter{Action: action})
		must(t, err)
		if len(got) == 0 {
			t.Errorf("no %s entry in the audit log", action)
		}
	}
	if v, err := s.db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("audit chain after erasure: %+v %v", v, err)
	}

	// Phones: the decrypted databases hold none of the words.
	for name, c := range map[string]*Client{"phone 1": p1, "phone 2": p2, "service phone": svc} {
		if found := scanPhone(t, c); len(found) > 0 {
			t.Errorf("%s still holds %v", name, found)
		}
	}
	// Server: the database, WAL and SHM, while it runs and after it closes.
	scanServerDir := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			f := s.path() + suffix
			if _, err := os.Stat(f); err != nil {
				continue
			}
			if found := scanServerFile(t, f); len(found) > 0 {
				t.Errorf("%s: %s holds %v", when, filepath.Base(f), found)
			}
		}
	}
	scanServerDir("running")
	s.close()
	scanServerDir("closed")

	// Restore the backup taken before the erasure (as an operator would:
	// the database file replaced, the ledger beside it kept) and open it.
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(s.path() + suffix)
	}
	copyFile(t, backup, s.path())
	if found := scanServerFile(t, s.path()); len(found) == 0 {
		t.Fatal("positive control: the restored file holds the words before it is opened")
	}
	s.open()
	scanServerDir("restored")
	rec, err := s.db.RecordState(ctx, yp)
	must(t, err)
	if rec == nil || rec.Erased == nil {
		t.Fatalf("young person after restore: %+v", rec)
	}
	// Phones sync with the restored server (it has lost their cursors):
	// nothing they send brings the words back.
	for _, c := range []*Client{p1, p2, svc} {
		mustS(t)(c.SyncNow())
	}
	s.close()
	scanServerDir("restored and synced")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o600))
}

// hits lists which erased words occur in b, raw or inside a snappy frame.
func hits(b []byte) []string {
	var out []string
	check := func(x []byte) {
		for _, w := range erasedWords {
			if bytes.Contains(bytes.ToLower(x), bytes.ToLower([]byte(w))) && !contains(out, w) {
				out = append(out, w)
			}
		}
	}
	check(b)
	if len(b) > 4 {
		if plain, err := snappy.Decode(nil, b[4:]); err == nil {
			check(plain)
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// scanServerFile scans a server file's bytes and, if it is a database,
// every value in every table (decompressing frames).
func scanServerFile(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	must(t, err)
	found := hits(raw)
	if strings.HasSuffix(path, "-wal") || strings.HasSuffix(path, "-shm") {
		return found
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	must(t, err)
	defer db.Close()
	for _, v := range allValues(t, db) {
		for _, w := range hits(v) {
			if !contains(found, w) {
				found = append(found, w)
			}
		}
	}
	return found
}

func allValues(t *testing.T, db *sql.DB) [][]byte {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	must(t, err)
	var tables []string
	for rows.Next() {
		var n string
		must(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	var out [][]byte
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tb + `"`)
		must(t, err)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v)
				case string:
					out = append(out, []byte(v))
				}
			}
		}
		rows.Close()
	}
	return out
}

// scanPhone decrypts everything a phone stores with its key (as the test
// knows it) and scans the plaintext, plus the raw files.
func scanPhone(t *testing.T, c *Client) []string {
	t.Helper()
	st := sq(c)
	var found []string
	add := func(ws []string) {
		for _, w := range ws {
			if !contains(found, w) {
				found = append(found, w)
			}
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(st.path + suffix); err == nil {
			add(hits(b))
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	type sealed struct {
		ad   string
		blob []byte
	}
	var blobs []sealed
	q := func(query string, ad func(a, b string) string) {
		rows, err := st.db.Query(query)
		must(t, err)
		defer rows.Close()
		for rows.Next() {
			var a, b string
			var blob []byte
			must(t, rows.Scan(&a, &b, &blob))
			blobs = append(blobs, sealed{ad(a, b), blob})
		}
	}
	q(`SELECT id, '', state FROM records`, func(a, _ string) string { return "rec:" + a })
	q(`SELECT CAST(start AS TEXT), '', body FROM outbox`, func(a, _ string) string { return "out:" + a })
	q(`SELECT CAST(start AS TEXT), '', body FROM sent`, func(a, _ string) string { return "out:" + a })
	q(`SELECT replica, CAST(start AS TEXT), body FROM inbox`, func(a, b string) string { return "in:" + a + ":" + b })
	q(`SELECT replica, CAST(start AS TEXT) || ':' || direction, body FROM quarantine`, func(a, b string) string {
		start, dir, _ := strings.Cut(b, ":")
		if dir == "push" {
			return "out:" + start
		}
		return "in:" + a + ":" + start
	})
	q(`SELECT key, '', value FROM meta`, func(a, _ string) string { return "meta:" + a })
	for _, b := range blobs {
		add(hits(b.blob)) // plain meta values, and anything not sealed
		if plain, err := st.seal.open(b.ad, b.blob); err == nil {
			add(hits(plain))
		}
	}
	// Views, as the app shows them.
	rows, err := st.db.Query(`SELECT id FROM records`)
	must(t, err)
	var ids []string
	for rows.Next() {
		var id string
		must(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		r, err := st.record(st.db, syncengine.RecordID(id))
		must(t, err)
		add(hits([]byte(mustJSON(r.View(nil)))))
	}
	return found
}

// More purges than one request may confirm go in several requests.
func TestPurgeConfirmationsArePaged(t *testing.T) {
	c := MustOpen(t, t.TempDir(), nil)
	var ids []string
	for i := 0; i < 2*maxConfirm+5; i++ {
		ids = append(ids, fmt.Sprintf("rec%05d", i))
	}
	must(t, purge(c.st, ids))
	seen := 0
	for round := 0; round < 4; round++ {
		batch := purgesToConfirm(c.st)
		if len(batch) > maxConfirm {
			t.Fatalf("round %d confirms %d", round, len(batch))
		}
		seen += len(batch)
		meta := map[string]string{}
		must(t, notePurges(c.st, meta, batch, nil))
		must(t, c.st.SetMeta(meta))
	}
	if seen != len(ids) || len(purgesToConfirm(c.st)) != 0 {
		t.Fatalf("confirmed %d of %d", seen, len(ids))
	}
}
