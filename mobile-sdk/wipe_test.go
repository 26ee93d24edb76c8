package mobilesdk

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
)

type wipeListener struct {
	mu      sync.Mutex
	reports []string
}

func (l *wipeListener) OnStatus(string) {}
func (l *wipeListener) OnWiped(r string) {
	l.mu.Lock()
	l.reports = append(l.reports, r)
	l.mu.Unlock()
}

// A revoked device destroys its records and credential at its next contact:
// afterwards its state directory holds no database, WAL or SHM file and no
// byte of what it held, and the server has recorded the wipe.
func TestRevokedDeviceWipes(t *testing.T) {
	s := startServer(t)
	sup, w := s.person(t, 2, "supervisor", 0), s.person(t, 2, "worker", 0)
	dir := t.TempDir()
	c, err := open(dir, testKey, "sim", options{})
	must(t, err)
	defer c.Close()
	l := &wipeListener{}
	c.SetListener(l)
	mustS(t)(c.Enrol(s.url, s.code(t, sup, w)))
	syncOK(t, c)
	enc := mustS(t)(c.CreateEncounter(`{"area":"Market","note":"wipe-me: talked about the flat on Gorse Road"}`))
	syncOK(t, c)
	mustS(t)(c.CreateEncounter(`{"area":"Market","note":"wipe-me too: never synced"}`))
	cred, err := c.st.Secret("credential")
	must(t, err)
	device, _ := c.st.Meta("device_id")
	n, err := c.RecordCount()
	must(t, err)
	if n < 2 {
		t.Fatalf("phone holds %d records before the wipe", n)
	}

	s.admin(t, sup, "/v1/admin/devices/"+device+"/revoke", map[string]string{"reason": "phone lost"})
	if _, err := c.SyncNow(); ErrorCode(err) != EREVOKED {
		t.Fatalf("sync after revocation: %v, want revoked", err)
	}

	st := status(t, c)
	if !st.Wiped || st.WipeReport == nil || !st.WipeReport.Verified || !st.WipeReport.ServerConfirmed || st.WipeReport.Lost != 1 {
		t.Fatalf("status after wipe: %+v report %+v", st, st.WipeReport)
	}
	if len(l.reports) != 1 || !strings.Contains(l.reports[0], `"verified":true`) {
		t.Fatalf("OnWiped calls: %v", l.reports)
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		t.Errorf("state dir still holds %s", e.Name())
	}
	all := dirBytes(t, dir)
	for _, secret := range []string{"wipe-me", "Gorse Road", cred, enc} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("state dir still contains %q", secret)
		}
	}
	if _, err := c.Get(enc); ErrorCode(err) != EWIPED {
		t.Fatalf("read after wipe: %v, want wiped", err)
	}
	var wipedAt string
	must(t, s.serverDB(t).QueryRow(`SELECT COALESCE(wiped_at, '') FROM devices WHERE id = ?`, device).Scan(&wipedAt))
	if wipedAt == "" {
		t.Error("the server did not record the wipe")
	}

	// The same directory can enrol again, from scratch.
	c2, err := open(dir, testKey, "sim", options{})
	must(t, err)
	defer c2.Close()
	mustS(t)(c2.Enrol(s.url, s.code(t, sup, w)))
	syncOK(t, c2)
	if _, err := c2.Get(enc); err != nil {
		t.Fatalf("re-enrolled phone does not get the synced encounter back: %v", err)
	}
}
