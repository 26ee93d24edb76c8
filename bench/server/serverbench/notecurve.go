package main

// notecurve: the server's cost of one pushed edit to a note that has
// already had 0, 100, 1k, 10k edits. Each note is typed from a real editing
// trace (automerge-paper: one person writing a paper, inserts and
// backspaces, one changeset per keystroke, as a phone sends them: the note
// grows) or from churn (a short note revised again and again: its
// tombstones grow), pushed over HTTP to a server in its own process on a
// real SQLite file. Then, in
// each of 3 runs, every note gets a batch of single-keystroke pushes (the
// trace's next edits, each a POST /v1/sync with one changeset and the pull
// a phone does with it), one at a time. Reported per note: wall time per
// push (median) and server CPU per push (/proc), each as a ratio to the
// fresh note's in the same run. Goal: the 10k note within 3x.

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/joinedup/joinedup/bench/internal/benchkit"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
	"github.com/joinedup/joinedup/syncengine/text/texttrace"
)

func notecurve(dir string, sizes []int, per, runs int, tracePath string, compact bool) error {
	if need := sizes[len(sizes)-1] + per*runs; tracePath == "churn" && need > churnEdits {
		return fmt.Errorf("notecurve: churn has %d edits, %d wanted", churnEdits, need)
	}
	patches, err := loadPatches(tracePath)
	if err != nil {
		return err
	}
	srv, ids, codes, err := seededChild(dir, 1, 1)
	if err != nil {
		return err
	}
	defer srv.stop()
	c := (&wire{}).client(2)
	e, err := enrol(c, srv.url, codes[0])
	if err != nil {
		return err
	}
	rep, err := benchkit.Replica(e.ReplicaID)
	if err != nil {
		return err
	}
	first, err := doSync(c, nil, srv.url, e.Credential, protocol.Request{})
	if err != nil {
		return err
	}
	cursor := first.Cursor
	push := func(css []*syncengine.Changeset, noPull bool) error {
		req := protocol.Request{Cursor: cursor, NoPull: noPull}
		for _, cs := range css {
			req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
		}
		r, err := doSync(c, nil, srv.url, e.Credential, req)
		if err != nil {
			return err
		}
		for _, res := range r.Results {
			if res.Status != protocol.StatusAccepted {
				return fmt.Errorf("push: %+v", res)
			}
		}
		if !noPull {
			cursor = r.Cursor
		}
		return nil
	}

	// One note per size, each typed from the start of the trace; next[i]
	// is the trace edit note i takes next, length[i] its visible length.
	type note struct {
		id         syncengine.RecordID
		next, size int
	}
	notes := make([]*note, len(sizes))
	edit := func(n *note) (*syncengine.Changeset, error) {
		if n.next >= len(patches) {
			return nil, fmt.Errorf("trace has only %d edits", len(patches))
		}
		p := patches[n.next]
		n.next++
		return rep.Edit(ids[0], func(tx *syncengine.Txn) error {
			if p.Del > 0 {
				if err := tx.DeleteText(n.id, "note", p.Pos, p.Del); err != nil {
					return err
				}
			}
			if p.Ins != "" {
				return tx.InsertText(n.id, "note", p.Pos, p.Ins)
			}
			return nil
		})
	}
	t0 := time.Now()
	for i, size := range sizes {
		n := &note{}
		cs, err := rep.Edit(ids[0], func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			n.id = id
			tx.Set(id, "team_id", e.TeamID)
			tx.Set(id, "area", "bus station")
			return tx.Set(id, "started_at", time.Now().Add(-time.Hour))
		})
		if err != nil {
			return err
		}
		if err := push([]*syncengine.Changeset{cs}, true); err != nil {
			return err
		}
		// Prior edits, 250 changesets a request (how they arrive does not
		// change the state they leave).
		var batch []*syncengine.Changeset
		for k := 0; k < size; k++ {
			cs, err := edit(n)
			if err != nil {
				return err
			}
			if batch = append(batch, cs); len(batch) == 250 || k == size-1 {
				if err := push(batch, true); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		notes[i] = n
	}
	var compacted string
	if compact {
		// The phone pulls and reports its cursor (the server compacts only
		// what every device has), then the maintenance pass runs, as the
		// server's hourly one would, from this process on the same file.
		if err := push(nil, false); err != nil {
			return err
		}
		if err := push(nil, false); err != nil {
			return err
		}
		if compacted, err = compactNotes(dir); err != nil {
			return err
		}
	}
	fmt.Printf("notecurve: one pushed keystroke (POST /v1/sync: one changeset and the pull) to a note after N prior edits from %s, server in its own process (pid %d), %d pushes per note per run, %d runs (set up in %s)%s\n",
		filepath.Base(tracePath), srv.cmd.Process.Pid, per, runs, time.Since(t0).Round(time.Millisecond), map[bool]string{true: ", text compacted once set up", false: ""}[compact])
	if compacted != "" {
		fmt.Printf("  %s\n", compacted)
	}
	fmt.Printf("  machine: load average %s\n", loadavg())
	for i, n := range notes {
		r, err := rep.Record(n.id)
		if err != nil {
			return err
		}
		chars := 0
		if f := r.Fields["note"]; f != nil {
			chars = f.Text.Len()
		}
		stored, err := storedSize(dir, n.id)
		if err != nil {
			return err
		}
		fmt.Printf("  note %d: %6d prior edits, %6d characters, phone's state %7d B, server's stored state %7d B\n", i, sizes[i], chars, len(syncengine.EncodeRecord(r)), stored)
	}

	type point struct{ wall, cpu []float64 } // ratios to the fresh note's, per run
	pts := make([]point, len(sizes))
	abs := make([][2][]time.Duration, len(sizes))
	for run := 0; run < runs; run++ {
		wall := make([]time.Duration, len(sizes))
		cpu := make([]time.Duration, len(sizes))
		for i, n := range notes {
			// Prepared first: the phone's work is not the server's.
			css := make([]*syncengine.Changeset, per)
			for k := range css {
				if css[k], err = edit(n); err != nil {
					return err
				}
			}
			var lat []time.Duration
			c0, err := srv.cpu()
			if err != nil {
				return err
			}
			for _, cs := range css {
				t := time.Now()
				if err := push([]*syncengine.Changeset{cs}, false); err != nil {
					return err
				}
				lat = append(lat, time.Since(t))
			}
			c1, err := srv.cpu()
			if err != nil {
				return err
			}
			wall[i], cpu[i] = pct(lat, 50), (c1-c0)/time.Duration(per)
			abs[i][0] = append(abs[i][0], wall[i])
			abs[i][1] = append(abs[i][1], cpu[i])
		}
		for i := range notes {
			pts[i].wall = append(pts[i].wall, ratio(wall[i], wall[0]))
			pts[i].cpu = append(pts[i].cpu, ratio(cpu[i], cpu[0]))
		}
	}
	for i := range notes {
		fmt.Printf("  %6d prior edits: push p50 %s = %s the fresh note's; server CPU %s a push = %s\n", sizes[i],
			median(abs[i][0]).Round(time.Microsecond), ratios(pts[i].wall), median(abs[i][1]).Round(time.Microsecond), ratios(pts[i].cpu))
	}
	fmt.Printf("  goal: the %d-edit note within 3x of the fresh note's\n", sizes[len(sizes)-1])
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// ratios prints each run's ratio, then their median.
func ratios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2fx", r)
	}
	s := slices.Clone(rs)
	slices.Sort(s)
	return fmt.Sprintf("%.2fx (runs %s)", s[len(s)/2], strings.Join(parts, ", "))
}

// loadPatches reads a sequential editing trace (.json or .json.gz) as one
// list of single-position edits.
func loadPatches(path string) ([]texttrace.Patch, error) {
	if path == "churn" {
		return churn(churnEdits), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var tr texttrace.Trace
	dec := json.NewDecoder(f)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		dec = json.NewDecoder(zr)
	}
	if err := dec.Decode(&tr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tr.Kind != "" || tr.StartContent != "" {
		return nil, fmt.Errorf("%s: want a sequential trace starting from an empty document", path)
	}
	var out []texttrace.Patch
	for _, tx := range tr.Txns {
		out = append(out, tx.Patches...)
	}
	return out, nil
}

// traceFile names what the notecurve types: "churn", a file, or for
// "paper" the automerge-paper trace beside the repository
// (../shared/traces) or in syncengine/testdata.
func traceFile(name string) string {
	if name != "paper" {
		return name
	}
	const file = "automerge-paper.json.gz"
	// serverbench runs from the repository root (go run) or bench/server
	// (run.sh).
	for _, dir := range []string{"../shared/traces", "syncengine/testdata", "../../../shared/traces", "../../syncengine/testdata"} {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			return filepath.Join(dir, file)
		}
	}
	return filepath.Join("syncengine/testdata", file)
}

// churnEdits is how many edits churn makes (enough for a 100k point).
const churnEdits = 110_000

// churn is n edits that keep a note near 200 characters (a worker
// revising a short note for months: every character typed is deleted again
// sooner or later), single keystrokes at random places, deterministic: the
// note whose tombstones grow the most.
func churn(n int) []texttrace.Patch {
	rng := rand.New(rand.NewPCG(12, 0))
	out := make([]texttrace.Patch, 0, n)
	length := 0
	for len(out) < n {
		if length > 0 && rng.IntN(400) < length {
			out = append(out, texttrace.Patch{Pos: rng.IntN(length), Del: 1})
			length--
			continue
		}
		out = append(out, texttrace.Patch{Pos: rng.IntN(length + 1), Ins: string(rune('a' + rng.IntN(26)))})
		length++
	}
	return out
}

// seededChild writes an organisation of n workers in teams teams and their
// enrolment codes into a database at dir, then starts the server process
// over it. It returns the workers' ids and codes.
func seededChild(dir string, n, teams int) (*child, []string, []string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return nil, nil, nil, err
	}
	ctx := context.Background()
	ids, err := seedTeams(ctx, db, n, teams)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	codes, err := db.IssueEnrolmentCodes(ctx, ids, "bench-admin")
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	if err := db.Close(); err != nil {
		return nil, nil, nil, err
	}
	srv, err := startChild(dir)
	return srv, ids, codes, err
}

// compactNotes runs the store's text compaction (CompactText) on the
// server's database from this process, and says what it did.
func compactNotes(dir string) (string, error) {
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return "", err
	}
	defer db.Close()
	res, err := db.CompactText(context.Background(), 0, 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("text compaction: %d records, %d tombstones dropped, stored states %d -> %d B", res.Compacted, res.Dropped, res.BytesBefore, res.BytesAfter), nil
}

// storedSize is the size of a record's state as the server stores it.
func storedSize(dir string, id syncengine.RecordID) (int, error) {
	db := sqlite.NewDB(filepath.Join(dir, "joinedup.db"))
	if err := db.Open(); err != nil {
		return 0, err
	}
	defer db.Close()
	rec, err := db.RecordState(context.Background(), string(id))
	if err != nil || rec == nil {
		return 0, err
	}
	return len(syncengine.EncodeRecord(rec)), nil
}
