package mobilesdk

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/internal/faultproxy"
	"github.com/joinedup/joinedup/syncengine"
)

// A phone enrolled a moment ago saves before its first sync completes (the
// worker is offline in the field, or the first download is slow): the team
// comes from the enrolment answer, not from records the phone does not hold
// yet, and the save is accepted when it reaches the server.
func TestNewPhoneSavesBeforeItsFirstSync(t *testing.T) {
	s := startServer(t)
	sup, w := s.person(t, 1, "supervisor", 0), s.person(t, 1, "worker", 2)
	c := MustOpen(t, t.TempDir(), nil)
	if _, err := c.Enrol(s.url, s.code(t, sup, w)); err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateEncounter(`{"area":"Bus station","note":"saved before the first sync"}`)
	if err != nil {
		t.Fatalf("save before the first sync: %v (code %s)", err, ErrorCode(err))
	}
	if got := str(t, view(t, c, id), "team_id"); got != w.TeamID {
		t.Fatalf("team_id = %q, want the worker's team %q", got, w.TeamID)
	}
	sum := mustS(t)(c.SyncNow())
	if !strings.Contains(sum, `"accepted":1`) {
		t.Fatalf("first sync: %s", sum)
	}
	if _, ok := s.serverRecords(t, w.TeamID)[id]; !ok {
		t.Fatal("the save is not on the server")
	}
}

// restoreRig is a server of the test's own (it is stopped and restored from
// a backup), on a fixed loopback port so phones find it again.
type restoreRig struct {
	*testServer
	port int
	dir  string
	stop func()
}

func newRestoreRig(t *testing.T) *restoreRig {
	t.Helper()
	shared := startServer(t) // builds the binaries and knows the demo organisation
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	r := &restoreRig{testServer: &testServer{url: fmt.Sprintf("http://localhost:%d", port), dataDir: filepath.Join(dir, "data"),
		bin: shared.bin, fieldsim: shared.fieldsim, demo: shared.demo}, port: port, dir: dir}
	r.stop = bootServer(t, r.bin, r.dataDir, port)
	return r
}

func (r *restoreRig) backup(t *testing.T) string {
	t.Helper()
	path := filepath.Join(r.dir, "backup.db")
	if out, err := exec.Command(r.bin, "-data", r.dataDir, "-backup", path).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	return path
}

// restore stops the server, puts the backup in a fresh data directory (what
// an operator's restore does) and starts the server on the same address.
func (r *restoreRig) restore(t *testing.T, backup string) {
	t.Helper()
	r.stop()
	r.dataDir = filepath.Join(r.dir, fmt.Sprintf("restored-%d", time.Now().UnixNano()))
	must(t, os.MkdirAll(r.dataDir, 0o700))
	data, err := os.ReadFile(backup)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(r.dataDir, "joinedup.db"), data, 0o600))
	r.stop = bootServer(t, r.bin, r.dataDir, r.port)
}

// A phone enrolled after the server's last backup: after a restore the
// server does not know its credential. Logging out would destroy saves the
// server acknowledged but no longer holds, so logout counts them and refuses.
func TestLogoutCountsAcknowledgedSavesTheServerLost(t *testing.T) {
	r := newRestoreRig(t)
	sup, w := r.person(t, 0, "supervisor", 0), r.person(t, 0, "worker", 0)
	backup := r.backup(t)
	p := r.enrolPhone(t, sup, w)
	for i := 0; i < 3; i++ {
		mustS(t)(p.CreateEncounter(fmt.Sprintf(`{"area":"Park","note":"acknowledged %d"}`, i)))
	}
	syncOK(t, p)
	if st := status(t, p); st.PendingChangesets != 0 {
		t.Fatalf("pending after sync: %d", st.PendingChangesets)
	}
	r.restore(t, backup)
	if _, err := p.SyncNow(); ErrorCode(err) != "unauthorized" {
		t.Fatalf("sync after the restore: %v, want code %s", err, EUNAUTHORIZED)
	}
	if !strings.Contains(mustS(t)(p.Status()), `"enrol_again":true`) {
		t.Fatalf("status does not ask for a new enrolment: %s", mustS(t)(p.Status()))
	}
	_, err := p.Logout(false)
	if ErrorCode(err) != EUNSYNCED || !strings.Contains(ErrorMessage(err), "3 saves") {
		t.Fatalf("logout = %v, want %s naming 3 saves", err, EUNSYNCED)
	}
	rep := mustS(t)(p.Logout(true))
	if !strings.Contains(rep, `"unsynced_lost":3`) {
		t.Fatalf("forced logout report: %s", rep)
	}
}

// A phone enrolled after the backup makes 2,000 saves that the server
// acknowledges; the server is restored; the phone is enrolled again with a
// new code for the same person, without logging out, and re-sends its work:
// all 2,000 are on the server exactly once and the phone matches it.
func TestReEnrolAfterRestoreKeepsEverySave(t *testing.T) {
	r := newRestoreRig(t)
	sup, w := r.person(t, 0, "supervisor", 0), r.person(t, 0, "worker", 1)
	backup := r.backup(t)
	p := r.enrolPhone(t, sup, w)
	const saves = 2000
	for i := 0; i < saves; i++ {
		mustS(t)(p.CreateEncounter(fmt.Sprintf(`{"area":"Park","note":"re-enrol save %d end"}`, i)))
		if i%500 == 499 {
			syncOK(t, p)
		}
	}
	syncOK(t, p)
	replica := mustS(t)(p.Status())
	r.restore(t, backup)
	if _, err := p.SyncNow(); ErrorCode(err) != "unauthorized" {
		t.Fatalf("sync after the restore: %v, want code %s", err, EUNAUTHORIZED)
	}
	if _, err := p.Enrol(r.url, r.code(t, sup, w)); err != nil {
		t.Fatalf("re-enrol with a new code: %v", err)
	}
	syncOK(t, p)
	syncOK(t, p)
	if st := status(t, p); st.PendingChangesets != 0 || len(st.Quarantined) != 0 {
		t.Fatalf("phone after re-sending: %+v", st)
	}
	if !strings.Contains(mustS(t)(p.Status()), fmt.Sprintf(`"replica_id":%q`, statusField(t, replica, "replica_id"))) {
		t.Fatal("re-enrolment changed the phone's replica id")
	}
	server := r.serverRecords(t, w.TeamID)
	count := map[string]int{}
	marker := regexp.MustCompile(`re-enrol save (\d+) end`)
	for _, b := range server {
		rec, err := syncengine.DecodeRecord(b)
		must(t, err)
		for _, m := range marker.FindAllStringSubmatch(rec.String("note"), -1) {
			count[m[1]]++
		}
	}
	for i := 0; i < saves; i++ {
		if n := count[fmt.Sprint(i)]; n != 1 {
			t.Fatalf("save %d is on the server %d times, want 1 (%d distinct saves found)", i, n, len(count))
		}
	}
	sameRecords(t, "phone vs server after re-enrolment", phoneRecords(t, p), server)
}

func statusField(t *testing.T, statusJSON, field string) string {
	t.Helper()
	var m map[string]any
	must(t, json.Unmarshal([]byte(statusJSON), &m))
	s, _ := m[field].(string)
	return s
}

// slowLink is a 50 kbit/s link to the shared server. The phones' request
// timeout is scaled down with the data (5 s here against 60 s in the field),
// so the test takes seconds: each case moves several times what fits in one
// timeout at that speed.
func slowLink(t *testing.T, s *testServer) *faultproxy.Proxy {
	t.Helper()
	u, err := url.Parse(s.url)
	must(t, err)
	p, err := faultproxy.New(u.Host, 1)
	must(t, err)
	t.Cleanup(func() { p.Close() })
	p.Set(faultproxy.Faults{BytesPerSecond: 50_000 / 8})
	return p
}

const slowTimeout = 5 * time.Second

// At 50 kbit/s a new phone's first sync, which brings more than one request
// timeout can carry, finishes: pages shrink until each lands.
func TestFirstSyncFinishesOnA50kbitLink(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	sup, w := s.person(t, 2, "supervisor", 0), s.person(t, 2, "worker", 0)
	link := slowLink(t, s)
	c := MustOpen(t, t.TempDir(), nil)
	c.SetRequestTimeout(slowTimeout.Milliseconds())
	if _, err := c.Enrol(link.URL(), s.code(t, sup, w)); err != nil {
		t.Fatal(err)
	}
	sum, err := c.SyncNow()
	if err != nil {
		t.Fatalf("first sync over 50 kbit/s: %v", err)
	}
	var got syncSummary
	must(t, json.Unmarshal([]byte(sum), &got))
	t.Logf("first sync: %s", sum)
	if fits := int64(slowTimeout.Seconds() * 50_000 / 8); got.BytesDown <= fits {
		t.Fatalf("the first sync brought %d bytes, which fit in one timeout (%d): the test proves nothing", got.BytesDown, fits)
	}
	sameRecords(t, "phone vs server after a slow first sync", phoneRecords(t, c), s.serverRecords(t, w.TeamID))
}

// At 50 kbit/s a phone with several timeouts' worth of saves queued uploads
// them all: push batches shrink until each lands.
func TestUploadFinishesOnA50kbitLink(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	sup, w := s.person(t, 1, "supervisor", 0), s.person(t, 1, "worker", 3)
	c := s.enrolPhone(t, sup, w)
	rng := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields("the bus home was late again and we talked about school the hostel his sister football money court")
	const saves = 110
	for i := 0; i < saves; i++ {
		var note strings.Builder
		for note.Len() < 1000 { // about 1 KB of text that does not compress away
			note.WriteString(words[rng.IntN(len(words))] + " ")
		}
		mustS(t)(c.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":%q}`, fmt.Sprintf("slow upload %d: %s", i, note.String()))))
	}
	n, err := c.st.Counts()
	queued := n.OutboxBytes
	must(t, err)
	if fits := int64(slowTimeout.Seconds() * 50_000 / 8); queued < 2*fits {
		t.Fatalf("%d bytes queued, want more than two timeouts' worth (%d)", queued, 2*fits)
	}
	link := slowLink(t, s)
	must(t, setMeta(sq(c).db, "server_url", link.URL()))
	c.SetRequestTimeout(slowTimeout.Milliseconds())
	sum, err := c.SyncNow()
	if err != nil {
		t.Fatalf("upload over 50 kbit/s: %v", err)
	}
	t.Logf("upload: %s", sum)
	if st := status(t, c); st.PendingChangesets != 0 {
		t.Fatalf("%d saves still queued", st.PendingChangesets)
	}
	sameRecords(t, "phone vs server after a slow upload", phoneRecords(t, c), s.serverRecords(t, w.TeamID))
}

// The enrolment answer is lost on the way back (the connection breaks after
// the server used the code): the phone tries again with the same code and
// gets its identity, instead of a used-up code and a device nobody holds.
func TestLostEnrolmentAnswerIsRetried(t *testing.T) {
	s := startServer(t)
	sup, w := s.person(t, 2, "supervisor", 0), s.person(t, 2, "worker", 3)
	link := slowLink(t, s)
	link.Set(faultproxy.Faults{CutResponse: 1, CutWindow: 20}) // the answer never arrives
	c := MustOpen(t, t.TempDir(), nil)
	code := s.code(t, sup, w)
	if _, err := c.Enrol(link.URL(), code); ErrorCode(err) != ENETWORK {
		t.Fatalf("enrol with the answer cut: %v, want a network error", err)
	}
	link.Set(faultproxy.Faults{})
	person, err := c.Enrol(link.URL(), code)
	if err != nil {
		t.Fatalf("retry with the same code: %v", err)
	}
	if person != w.ID {
		t.Fatalf("enrolled as %s, want %s", person, w.ID)
	}
	syncOK(t, c)
	if st := status(t, c); !st.Enrolled || st.LastErrorCode != "" {
		t.Fatalf("after the retried enrolment: %+v", st)
	}
}

// A phone whose clock is three days out saves and syncs like any other: it
// goes by the server's clock (learned at enrolment, before its first save),
// so the server does not refuse its saves as stamped in the future, and its
// edits do not lose to everyone else's as stamped days ago.
func TestPhoneWithAWrongClockSavesAndSyncs(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 0, "supervisor", 0)
	for i, skew := range []time.Duration{72 * time.Hour, -72 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			w := s.person(t, 0, "worker", 2+i)
			dir := t.TempDir()
			c, err := open(dir, testKey, "sim", options{now: func() time.Time { return time.Now().Add(skew) }})
			must(t, err)
			defer c.Close()
			_, err = c.Enrol(s.url, s.code(t, sup, w))
			must(t, err)
			id := mustS(t)(c.CreateEncounter(`{"area":"Docks","note":"saved with a wrong clock"}`))
			started, err := time.Parse(time.RFC3339, str(t, view(t, c, id), "started_at"))
			must(t, err)
			if d := time.Since(started); d > time.Hour || d < -time.Hour {
				t.Errorf("started_at %s is %s from the real time", started, d)
			}
			sum := mustS(t)(c.SyncNow())
			if st := status(t, c); len(st.Quarantined) != 0 || !strings.Contains(sum, `"accepted":1`) {
				t.Fatalf("a save with the clock %s out: %s\nquarantined: %+v", skew, sum, st.Quarantined)
			}
			// The offset survives a restart: an offline save is stamped right too.
			must(t, c.Close())
			c2, err := open(dir, testKey, "sim", options{now: func() time.Time { return time.Now().Add(skew) }})
			must(t, err)
			defer c2.Close()
			must(t, c2.ConnectivityChanged(false))
			mustS(t)(c2.CreateEncounter(`{"area":"Docks","note":"offline, after a restart"}`))
			must(t, c2.ConnectivityChanged(true))
			syncOK(t, c2)
			if st := status(t, c2); len(st.Quarantined) != 0 || st.PendingChangesets != 0 {
				t.Fatalf("after a restart: %+v", st)
			}
		})
	}
}
