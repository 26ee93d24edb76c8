package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/sqlite"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

func (e *env) code(person string) string {
	e.t.Helper()
	code, _, err := e.db.IssueEnrolmentCode(context.Background(), person, "sup_a")
	must(e.t, err)
	return code
}

func (e *env) enrolWith(body map[string]string) (reply, domain.Enrolment) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	r := e.do("POST", "/v1/enrol", map[string]string{"Content-Type": "application/json"}, b)
	var out domain.Enrolment
	if r.status == 201 {
		r.json(e.t, &out)
	}
	return r, out
}

func (e *env) devicesOf(person string) int {
	e.t.Helper()
	var n int
	must(e.t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM devices WHERE person_id = ?`, person).Scan(&n))
	return n
}

// TestLostEnrolmentAnswerIsRetried: the answer to an enrolment is lost; the
// phone asks again with the same code and install id and gets the same
// device back, with a credential that works, and no device nobody holds is
// left active. Anyone else presenting the used code, and the same install
// after the window, is refused.
func TestLostEnrolmentAnswerIsRetried(t *testing.T) {
	e := newEnv(t)
	code := e.code("w_a")
	install := "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	r, first := e.enrolWith(map[string]string{"code": code, "platform": "android", "install_id": install})
	if r.status != 201 {
		t.Fatalf("enrol: %d %s", r.status, r.body)
	}
	// The answer never arrives; the phone retries.
	r, again := e.enrolWith(map[string]string{"code": code, "platform": "android", "install_id": install})
	if r.status != 201 || again.DeviceID != first.DeviceID || again.ReplicaID != first.ReplicaID || again.TeamID != "team_a" {
		t.Fatalf("retry: %d %s, first answer %+v", r.status, r.body, first)
	}
	if _, _, err := e.db.Authenticate(context.Background(), again.Credential); err != nil {
		t.Fatalf("retried credential: %v", err)
	}
	if _, _, err := e.db.Authenticate(context.Background(), first.Credential); syncengine.ErrorCode(err) != domain.EUNAUTHORIZED {
		t.Fatalf("the lost credential still works: %v", err)
	}
	if n := e.devicesOf("w_a"); n != 1 {
		t.Fatalf("%d devices for one phone", n)
	}
	for _, tc := range []struct {
		name string
		body map[string]string
		wait time.Duration
	}{
		{"no install id", map[string]string{"code": code, "platform": "android"}, 0},
		{"another install", map[string]string{"code": code, "platform": "android", "install_id": "ffffffffffffffffffffffffffffffff"}, 0},
		{"after the window", map[string]string{"code": code, "platform": "android", "install_id": install}, 11 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.now = e.now.Add(tc.wait)
			if r, _ := e.enrolWith(tc.body); r.status != 401 {
				t.Fatalf("used code: %d %s, want 401", r.status, r.body)
			}
		})
	}
}

// TestReenrolKeepsTheReplica: a phone whose credential the server no longer
// knows enrols again with a new code and its existing replica id; the saves
// it authored with that id are then accepted. A hostile phone cannot take
// another person's replica id, nor the server's.
func TestReenrolKeepsTheReplica(t *testing.T) {
	e := newEnv(t)
	a := e.enrolPhone("w_a")
	a.syncAll()
	a.newEncounter("team_a", "Before the credential was lost.")
	a.syncAll()
	a.newEncounter("team_a", "Written while the credential was gone.")

	// Admin re-issue: a new code for the same person, the phone keeps its replica.
	r, again := e.enrolWith(map[string]string{"code": e.code("w_a"), "platform": "android", "replica_id": a.enrol.ReplicaID})
	if r.status != 201 || again.ReplicaID != a.enrol.ReplicaID {
		t.Fatalf("re-enrol keeping the replica: %d %s", r.status, r.body)
	}
	a.enrol = again
	res := a.sync(0)
	if res.status != 200 || len(res.Results) != 1 || res.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("save authored before re-enrolment: %d %s", res.status, res.raw)
	}
	if n := e.devicesOf("w_a"); n != 1 {
		t.Fatalf("%d devices after re-enrolment, want the same one", n)
	}

	_, _, err := e.db.ServerReplica(context.Background())
	must(t, err)
	var server string
	must(t, e.db.SQL().QueryRow(`SELECT value FROM meta WHERE key = 'server_replica'`).Scan(&server))
	for _, tc := range []struct {
		name, person, replica string
		wantStatus            int
	}{
		{"another person's replica", "w_a2", a.enrol.ReplicaID, 403},
		{"the server's replica", "w_a2", server, 403},
		{"not a replica id", "w_a2", strings.Repeat("z", 32), 422},
		{"zero replica id", "w_a2", strings.Repeat("0", 32), 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, _ := e.enrolWith(map[string]string{"code": e.code(tc.person), "platform": "android", "replica_id": tc.replica}); r.status != tc.wantStatus {
				t.Fatalf("enrol: %d %s, want %d", r.status, r.body, tc.wantStatus)
			}
		})
	}
}

// reopen serves the database file at path (a restored backup) with a fresh
// API server, as a restarted server would.
func (e *env) reopen(path string) *env {
	e.t.Helper()
	db := sqlite.NewDB(path)
	e2 := &env{t: e.t, db: db, now: e.now}
	db.Now = func() time.Time { return e2.now }
	must(e.t, db.Open())
	e.t.Cleanup(func() { db.Close() })
	cfg := api.DefaultConfig()
	cfg.BodyLimit = 256 << 10
	cfg.Now = func() time.Time { return e2.now }
	e2.srv = api.New(db, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e2.srv.NotFound()
	return e2
}

// TestPhoneEnrolledAfterTheBackupKeepsItsWork: a phone enrolled after the
// last backup saves 2,000 encounters, all acknowledged. The server is
// restored: it no longer knows the phone. The phone enrols again with a new
// code, keeping its replica id, re-sends what it holds, and every save is on
// the server exactly once.
func TestPhoneEnrolledAfterTheBackupKeepsItsWork(t *testing.T) {
	e := newEnv(t)
	backup := filepath.Join(t.TempDir(), "backup.db")
	must(t, e.db.Backup(context.Background(), backup))

	p := e.enrolPhone("w_a")
	// Record ids from a real source of randomness: 2,000 of them.
	id, err := syncengine.ParseReplicaID(p.enrol.ReplicaID)
	must(t, err)
	p.rep, err = syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return e.now }, Rand: rand.Reader, Store: p.store})
	must(t, err)
	p.syncAll()
	const saves = 2000
	var sent []*syncengine.Changeset
	var ids []syncengine.RecordID
	for len(ids) < saves {
		for i := 0; i < 250; i++ {
			ids = append(ids, p.newEncounter("team_a", fmt.Sprintf("Save %d.", len(ids))))
		}
		sent = append(sent, p.outbox...)
		if r := p.sync(0); r.status != 200 {
			t.Fatalf("sync: %d %s", r.status, r.raw)
		}
	}
	p.syncAll()

	e2 := e.reopen(backup)
	p.e = e2
	if r := p.sync(0); r.status != 401 {
		t.Fatalf("restored server and a phone it never knew: %d %s", r.status, r.raw)
	}
	r, again := e2.enrolWith(map[string]string{"code": e2.code("w_a"), "platform": "sim", "replica_id": p.enrol.ReplicaID,
		"install_id": "0123456789abcdef0123"})
	if r.status != 201 || again.ReplicaID != p.enrol.ReplicaID {
		t.Fatalf("re-enrol after the restore: %d %s", r.status, r.body)
	}
	p.enrol = again
	if r := p.sync(0); r.status != 409 || r.err.Code != domain.ECURSORAHEAD {
		t.Fatalf("old cursor on the restored server: %d %s", r.status, r.raw)
	}
	// What the phone does on cursor_ahead: re-send everything, start afresh.
	p.cursor = ""
	for i := 0; i < len(sent); i += 250 {
		p.outbox = append(p.outbox[:0], sent[i:min(i+250, len(sent))]...)
		if r := p.sync(0); r.status != 200 {
			t.Fatalf("re-send: %d %s", r.status, r.raw)
		}
	}
	p.syncAll()
	var n, distinct int
	must(t, e2.db.SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT start) FROM changesets WHERE replica_id = ?`, p.enrol.ReplicaID).Scan(&n, &distinct))
	if n != saves || distinct != saves {
		t.Fatalf("server holds %d changesets (%d distinct) of the phone's %d saves", n, distinct, saves)
	}
	for _, id := range ids {
		if !p.has(id) {
			t.Fatalf("phone lost %s", id)
		}
	}
	if got := e2.count("records WHERE type = 'encounter'"); got != saves {
		t.Fatalf("server holds %d encounters, want %d", got, saves)
	}
}
