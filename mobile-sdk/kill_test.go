package mobilesdk

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// killRun runs fieldsim and SIGKILLs it either when it prints its
// killAtLine-th line (plus a small random delay) or after killAfter,
// whichever is set. It returns the lines printed and whether it was killed.
func killRun(t *testing.T, bin string, args []string, killAtLine int, killAfter, delay time.Duration) ([]string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = nil
	must(t, cmd.Start())
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	var lines []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if killAtLine > 0 && len(lines) == killAtLine {
			time.Sleep(delay)
			cmd.Process.Kill()
		}
	}
	err = cmd.Wait()
	killed := false
	if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
		killed = true
	}
	return lines, killed
}

var savedLine = regexp.MustCompile(`^saved (\S+) (\S+)$`)

// The phone is a separate process (fieldsim) SIGKILLed at random points:
// while saving, while its push is in flight (the server may have applied it
// and the answer is lost), while storing or applying a pull page, between
// pages. After each kill it restarts; at the end everything converges and
// every save it reported is on the server exactly once.
func TestKilledPhoneLosesAndDoublesNothing(t *testing.T) {
	s := startServer(t)
	sup, wp, wq := s.person(t, 1, "supervisor", 0), s.person(t, 1, "worker", 0), s.person(t, 1, "worker", 1)
	team := wp.TeamID
	dir := t.TempDir()
	fieldsim := func(args ...string) []string { return append([]string{"-dir", dir}, args...) }
	if lines, killed := killRun(t, s.fieldsim, fieldsim("enrol", "-server", s.url, "-code", s.code(t, sup, wp)), 0, 0, 0); killed || len(lines) < 2 {
		t.Fatalf("enrol: %v", lines)
	}
	q := s.enrolPhone(t, sup, wq)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	run := fmt.Sprintf("k%x", seed&0xffffff) // markers unique to this run (the server outlives it)
	saved := map[string]string{}             // marker -> record id, for every save fieldsim reported
	phases := map[string]int{}
	const rounds = 16
	for round := 0; round < rounds; round++ {
		// The other worker writes things this phone will pull, some on its records.
		for i := 0; i < 10; i++ {
			mustS(t)(q.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":"from Q round %d item %d"}`, round, i)))
		}
		n := 0
		for _, id := range saved {
			if r, _ := q.st.Record(syncengine.RecordID(id)); r != nil && n < 3 {
				must(t, q.InsertText(id, "note", 0, "Q saw this. "))
				n++
			}
		}
		syncOK(t, q)

		args := fieldsim("burst", "-n", "6", "-tag", fmt.Sprintf("%s-r%d", run, round), "-sync", "-v", "-page-bytes", "1024")
		if round%4 == 3 {
			args = fieldsim("sync", "-v", "-page-bytes", "1024") // a pure pull
		}
		var lines []string
		var killed bool
		if round%2 == 0 {
			lines, killed = killRun(t, s.fieldsim, args, 1+rng.IntN(16), 0, time.Duration(rng.IntN(3000))*time.Microsecond)
		} else {
			lines, killed = killRun(t, s.fieldsim, args, 0, time.Duration(5+rng.IntN(60))*time.Millisecond, 0)
		}
		phase := "finished"
		if killed {
			phase = "before-first-save"
			if len(lines) > 0 {
				last := lines[len(lines)-1]
				switch {
				case strings.HasPrefix(last, "saved"):
					phase = "saving"
				case strings.Contains(last, `"phase":"pushed"`):
					phase = "storing-page (push answered, not yet recorded)"
				case strings.Contains(last, `"phase":"stored"`):
					phase = "applying-page"
				case strings.Contains(last, `"phase":"applied"`):
					phase = "between-round-trips"
				default:
					phase = "other"
				}
				if strings.HasPrefix(last, "saved") && strings.Contains(strings.Join(args, " "), "-sync") && len(lines) == 6 {
					phase = "push in flight"
				}
			}
		}
		phases[phase]++
		for _, l := range lines {
			if m := savedLine.FindStringSubmatch(l); m != nil {
				saved[m[1]] = m[2]
			}
		}
	}
	t.Logf("kill points: %v; saves reported: %d", phases, len(saved))

	// Restart and let everything settle.
	for i := 0; i < 2; i++ {
		if lines, killed := killRun(t, s.fieldsim, fieldsim("sync"), 0, 0, 0); killed || len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "synced") {
			t.Fatalf("final sync: %v", lines)
		}
	}
	syncOK(t, q)

	key, err := os.ReadFile(filepath.Join(dir, "keystore.key"))
	must(t, err)
	p, err := open(dir, key, "sim", options{})
	must(t, err)
	defer p.Close()
	st := status(t, p)
	if st.PendingChangesets != 0 || st.HeldChangesets != 0 || len(st.Quarantined) != 0 {
		t.Fatalf("phone after settling: %+v", st)
	}
	server := s.serverRecords(t, team)
	sameRecords(t, "killed phone vs server", phoneRecords(t, p), server)
	sameRecords(t, "other phone vs server", phoneRecords(t, q), server)

	// Every reported save is on the server exactly once; no save is doubled.
	count := map[string]int{}
	marker := regexp.MustCompile(`kill test note (` + run + `-r\d+-\d+) end`)
	for _, b := range server {
		r, err := syncengine.DecodeRecord(b)
		must(t, err)
		for _, m := range marker.FindAllStringSubmatch(r.String("note"), -1) {
			count[m[1]]++
		}
	}
	for m, id := range saved {
		if count[m] != 1 {
			t.Errorf("save %s (record %s) is on the server %d times, want 1", m, id, count[m])
		}
	}
	for m, n := range count {
		if n != 1 {
			t.Errorf("save %s is on the server %d times", m, n)
		}
	}
	if len(saved) == 0 {
		t.Fatal("no save survived to be checked")
	}
}
