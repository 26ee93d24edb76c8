package push_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
)

// TestKillHelper is the "other server process" of TestKillDuringSending: it claims everything
// and sends until it is killed. It does nothing when run normally.
func TestKillHelper(t *testing.T) {
	dbPath, endpoint := os.Getenv("PUSH_KILL_DB"), os.Getenv("PUSH_KILL_FCM")
	if dbPath == "" {
		t.Skip("helper process for TestKillDuringSending")
	}
	db := MustOpenDB(t, dbPath)
	s, err := push.NewSender(context.Background(), push.Config{
		ProjectID: "joinedup-test", Endpoint: endpoint, Owner: "process-A", Lease: 30 * time.Second,
		Concurrency: 1, Options: []option.ClientOption{testTokenSource()},
	}, db.Outbox())
	if err != nil {
		t.Fatal(err)
	}
	s.SendDue(context.Background())
	t.Fatal("helper returned: it should have been killed mid-send")
}

// Two server processes share one SQLite file. Process A claims every due notification, FCM
// accepts half of them and A is killed (SIGKILL) before it records anything. While A's lease
// lives, B claims nothing; once it has expired, B sends them all. Nothing is lost, and every
// duplicate carries the same collapse key / nid, so each phone shows it once.
func TestKillDuringSending(t *testing.T) {
	e := newEnv(t)
	e.store.Now = time.Now
	const n = 50
	block := make(chan struct{})
	defer close(block)
	var ns []push.Notification
	for i := range n {
		tok := fmt.Sprintf("tok-%d", i)
		e.token(t, fmt.Sprintf("d%d", i), fmt.Sprintf("p%d", i), tok)
		if i%2 == 1 {
			e.fake.Script(tok, fcmfake.Response{Block: block}) // A never hears back for these
		}
		ns = append(ns, note(id(i), fmt.Sprintf("p%d", i)))
	}
	e.enqueue(t, ns...)

	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PUSH_KILL_DB="+e.path, "PUSH_KILL_FCM="+e.fake.URL)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.fake.Count() < n {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("process A sent %d of %d; output:\n%s", e.fake.Count(), n, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let A receive the answered half
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	if c := e.counts(t); c[push.StatePending] != n {
		t.Fatalf("after the kill: %v, want %d pending (nothing recorded)", c, n)
	}
	live := e.sender(t, func(c *push.Config) { c.Owner = "process-B"; c.Now = time.Now })
	if sent := sendDue(t, live); sent != 0 {
		t.Fatalf("B sent %d under A's live lease", sent)
	}
	later := e.sender(t, func(c *push.Config) {
		c.Owner = "process-B"
		c.Now = func() time.Time { return time.Now().Add(31 * time.Second) }
	})
	if sent := sendDue(t, later); sent != n {
		t.Fatalf("B sent %d after A's lease expired, want %d", sent, n)
	}
	if c := e.counts(t); c[push.StateSent] != n {
		t.Fatalf("counts %v", c)
	}
	byNid := map[string]map[string]bool{} // nid -> collapse keys seen
	for _, r := range e.fake.Requests() {
		nid := r.Message["data"].(map[string]any)["nid"].(string)
		ck := r.Message["android"].(map[string]any)["collapse_key"].(string)
		if byNid[nid] == nil {
			byNid[nid] = map[string]bool{}
		}
		byNid[nid][ck] = true
	}
	if len(byNid) != n {
		t.Fatalf("%d distinct notifications reached FCM, want %d", len(byNid), n)
	}
	for nid, keys := range byNid {
		if len(keys) != 1 || !keys[nid] {
			t.Errorf("%s sent with collapse keys %v", nid, keys)
		}
	}
	if got := e.fake.Count(); got != 2*n {
		t.Logf("FCM requests: %d (each notification sent by A and again by B)", got)
	}
}

type logBuffer struct{ b []byte }

func (l *logBuffer) Write(p []byte) (int, error) { l.b = append(l.b, p...); return len(p), nil }
func (l *logBuffer) String() string              { return string(l.b) }
