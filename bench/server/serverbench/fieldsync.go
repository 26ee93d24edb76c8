package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/joinedup/joinedup/fixtures"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// fieldsync: a fresh worker phone's first sync after 1 week, 10 weeks and
// a year of its team's history, as phones before the field subset pull it
// (the whole scope) and as phones pull it now (the field subset of
// fieldWeeks weeks): bytes down and CPU, each a ratio to the 1-week figure
// of the same kind, on the binary protocol with the SDK's page size.
//
// The team is fixtures.Week()'s (25 workers: ~2,000 encounters and ~500
// referrals a week), its last week generated and replayed through the
// engine; earlier weeks are copies of that week's records under new ids,
// filed as many weeks back (encounters by when they started), with 30 new
// young people a week. Referrals and follow-ups close at the rate the
// generated week closes them: the fraction p of each type still open at the
// end of its week; a copy k weeks old is still open with probability p^k
// (deterministic by id), else closed k weeks back. Rows go straight into
// the store: what is measured is the pull.
func fieldsync(dir string, histories []int, fieldWeeks, reps int) error {
	now := time.Now()
	cfg := fixtures.Week()
	cfg.Start = fixtures.MondayBefore(now, 1)
	ds := fixtures.Generate(cfg)
	h, err := ds.Changesets(1)
	if err != nil {
		return err
	}
	var recs, yps []*syncengine.Record
	for _, r := range h.Store.Records() {
		switch r.Type {
		case syncengine.TypeYoungPerson:
			yps = append(yps, r)
		case syncengine.TypeEncounter, syncengine.TypeReferral, syncengine.TypeFollowUp:
			recs = append(recs, r)
		}
	}
	open := map[string][2]int{}
	for _, r := range recs {
		c := open[r.Type]
		if domain.FieldAt(r) == domain.FieldAlways {
			c[0]++
		}
		c[1]++
		open[r.Type] = c
	}
	pOpen := map[string]float64{}
	for typ, c := range open {
		pOpen[typ] = float64(c[0]) / float64(c[1])
	}
	fmt.Printf("fieldsync: a fresh worker phone's first sync of its team's history (%d young people, %d other records a week; binary protocol, %d KiB pages)\n",
		len(yps), len(recs), syncPage>>10)
	fmt.Printf("  whole scope (phones before the subset) vs the field subset of %d weeks; CPU is the process's (server and a client that only reads), median of %d fresh devices\n", fieldWeeks, reps)
	fmt.Printf("  %-9s %8s | %10s %8s %7s %7s | %10s %8s %8s %7s %7s\n", "history", "records", "whole MB", "CPU", "MB x", "CPU x", "subset MB", "records", "CPU", "MB x", "CPU x")
	var base [2]pullCost
	var histNote []string
	for i, weeks := range histories {
		s, err := startServer(fmt.Sprintf("%s/h%d", dir, weeks))
		if err != nil {
			return err
		}
		n, worker, err := loadHistory(s, ds.Org, yps, recs, pOpen, weeks)
		if err != nil {
			s.close()
			return err
		}
		var costs [2]pullCost
		for k, fw := range []int{0, fieldWeeks} {
			// The median of reps fresh devices' pulls (the machine is shared).
			var runs []pullCost
			for range reps {
				c, err := freshPull(s, worker, fw)
				if err != nil {
					s.close()
					return err
				}
				runs = append(runs, c)
			}
			slices.SortFunc(runs, func(a, b pullCost) int { return cmp.Compare(a.cpu, b.cpu) })
			costs[k] = runs[len(runs)/2]
		}
		// A young person's history, opened on the phone. Encounters are
		// filed under the young people they name by a background pass
		// (RefreshLinks, every minute in the server); here the history
		// was written in one go, so: the pass over all of it, then the
		// fetch a phone waits for, then a second fetch.
		c0 := processCPU()
		if err := s.db.RefreshLinks(context.Background()); err != nil {
			s.close()
			return err
		}
		pass := processCPU() - c0
		var hist [2]pullCost
		for k := range hist {
			if hist[k], err = fetchHistory(s, worker, string(yps[0].ID)); err != nil {
				s.close()
				return err
			}
		}
		histNote = append(histNote, fmt.Sprintf("%d weeks: filing pass %s, then fetch %s (%d records, %.0f KB), again %s", weeks,
			pass.Round(time.Millisecond), hist[0].cpu.Round(100*time.Microsecond), hist[1].records, float64(hist[1].bytes)/1024, hist[1].cpu.Round(100*time.Microsecond)))
		s.close()
		if i == 0 {
			base = costs
		}
		label := fmt.Sprintf("%d weeks", weeks)
		if weeks == 52 {
			label = "1 year"
		}
		mb := func(b int64) float64 { return float64(b) / (1 << 20) }
		fmt.Printf("  %-9s %8d | %10.1f %8s %6.1fx %6.1fx | %10.2f %8d %8s %6.1fx %6.1fx\n", label, n,
			mb(costs[0].bytes), costs[0].cpu.Round(time.Millisecond), float64(costs[0].bytes)/float64(base[0].bytes), ratio(costs[0].cpu, base[0].cpu),
			mb(costs[1].bytes), costs[1].records, costs[1].cpu.Round(time.Millisecond), float64(costs[1].bytes)/float64(base[1].bytes), ratio(costs[1].cpu, base[1].cpu))
		if i == len(histories)-1 {
			fmt.Printf("  a young person's history on demand (CPU): %s\n", strings.Join(histNote, "; "))
			fmt.Printf("  after %s: field subset %.2f MB (goal < 5 MB), %s CPU (goal < 2 s); the whole scope was %.1f MB, %s\n", label,
				mb(costs[1].bytes), costs[1].cpu.Round(time.Millisecond), mb(costs[0].bytes), costs[0].cpu.Round(time.Millisecond))
		}
	}
	return nil
}

// syncPage is the SDK's pull page (mobile-sdk pageBytes).
const syncPage = 512 << 10

type pullCost struct {
	bytes   int64
	records int
	cpu     time.Duration
}

// loadHistory writes weeks of the team's history into s and returns how
// many records the team holds and a worker of it.
func loadHistory(s *server, org fixtures.Org, yps, recs []*syncengine.Record, pOpen map[string]float64, weeks int) (int, string, error) {
	ctx := context.Background()
	if err := loadOrg(ctx, s.db, org); err != nil {
		return 0, "", err
	}
	worker := ""
	for _, p := range org.People {
		if p.Role == domain.RoleWorker {
			worker = p.ID
			break
		}
	}
	tx, err := s.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare(`INSERT INTO records (id, type, team_id, young_person_id, state, updated_seq, field_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, "", err
	}
	defer ins.Close()
	const week = 7 * 24 * 3600
	seq, n := 0, 0
	put := func(r *syncengine.Record, id string, fieldAt int64) error {
		seq++
		n++
		var yp any
		if v := r.String("young_person_id"); v != "" {
			yp = v
		}
		_, err := ins.Exec(id, r.Type, r.String("team_id"), yp, syncengine.EncodeRecord(r), seq, fieldAt)
		return err
	}
	for k := 0; k < weeks; k++ {
		suffix := ""
		if k > 0 {
			suffix = fmt.Sprintf("w%02d", k)
		}
		for j, r := range yps {
			if k == 0 || j < 30 {
				if err := put(r, string(r.ID)+suffix, domain.FieldAlways); err != nil {
					return 0, "", err
				}
			}
		}
		for _, r := range recs {
			at := domain.FieldAt(r)
			switch {
			case at == domain.FieldAlways && k > 0 && unit(string(r.ID)+suffix) >= math.Pow(pOpen[r.Type], float64(k)):
				at = r.Updated.Time().Unix() - int64(k)*week
			case at != domain.FieldAlways:
				at -= int64(k) * week
			}
			if err := put(r, string(r.ID)+suffix, at); err != nil {
				return 0, "", err
			}
		}
	}
	if _, err := tx.Exec(`INSERT INTO changesets (seq, replica_id, start, span, author, received_at, body) VALUES (?, 'filler', ?, 1, 'x', '2026-01-01T00:00:00Z', x'00')`, seq, seq); err != nil {
		return 0, "", err
	}
	return n, worker, tx.Commit()
}

// device is a freshly enrolled phone of a person, speaking the binary protocol.
type device struct {
	hc   *http.Client
	url  string
	cred string
}

func newDevice(s *server, person string) (*device, error) {
	codes, err := s.db.IssueEnrolmentCodes(context.Background(), []string{person}, "bench-admin")
	if err != nil {
		return nil, err
	}
	hc := (&wire{}).client(1)
	e, err := enrol(hc, s.url, codes[0])
	if err != nil {
		return nil, err
	}
	return &device{hc: hc, url: s.url, cred: e.Credential}, nil
}

// post sends a binary envelope of header (and groups) to path and decodes
// the answer's header into out; it returns the answer's frame groups and size.
func (d *device) post(path string, header, out any, groups, answerGroups int) ([][][]byte, int, error) {
	g := make([][][]byte, groups)
	body, err := protocol.Encode(header, g...)
	if err != nil {
		return nil, 0, err
	}
	req, _ := http.NewRequest("POST", d.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.cred)
	req.Header.Set("Content-Type", protocol.ContentType)
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != 200 {
		return nil, 0, fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	frames, err := protocol.Decode(b, out, answerGroups)
	return frames, len(b), err
}

// freshPull enrols a new device for worker and pulls until the server has
// nothing more, asking for fieldWeeks (0: the whole scope).
func freshPull(s *server, worker string, fieldWeeks int) (pullCost, error) {
	return onNewDevice(s, worker, func(d *device, c *pullCost) error {
		cursor := ""
		for page := 0; ; page++ {
			var hdr protocol.Response
			groups, n, err := d.post("/v1/sync", protocol.Request{Cursor: cursor, PageBytes: syncPage, FieldWeeks: fieldWeeks}, &hdr, 1, 2)
			if err != nil {
				return err
			}
			c.bytes += int64(n)
			c.records += len(groups[1])
			cursor = hdr.Cursor
			if !hdr.More {
				return nil
			}
			if page > 100000 {
				return fmt.Errorf("the pull never ended")
			}
		}
	})
}

// onNewDevice enrols a new device for worker and runs fn on it, charging fn
// (not the enrolment) with the process CPU it took. The GC runs first so
// one measurement does not pay for the garbage of the one before.
func onNewDevice(s *server, worker string, fn func(d *device, c *pullCost) error) (pullCost, error) {
	var c pullCost
	d, err := newDevice(s, worker)
	if err != nil {
		return c, err
	}
	runtime.GC()
	cpu0 := processCPU()
	if err := fn(d, &c); err != nil {
		return c, err
	}
	c.cpu = processCPU() - cpu0
	return c, nil
}

// unit maps s to [0, 1) deterministically.
func unit(s string) float64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// fetchHistory fetches a young person's history as a new phone of worker.
func fetchHistory(s *server, worker, yp string) (pullCost, error) {
	return onNewDevice(s, worker, func(d *device, c *pullCost) error {
		var hdr protocol.FetchResponse
		groups, n, err := d.post("/v1/sync/fetch", protocol.FetchRequest{YoungPerson: yp}, &hdr, 0, 1)
		if err != nil {
			return err
		}
		c.bytes, c.records = int64(n), len(groups[0])
		return nil
	})
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
