// Command push benchmarks push delivery: N follow-ups fall due at once (one device each) and
// the Sender delivers them through the real Firebase Admin SDK to a local fake FCM endpoint.
// The baseline, measured in the same run against the same fake, is a bare net/http loop
// posting the same payloads with the same number of requests in flight; the ratio shows what
// the outbox (SQLite claims, completions) and the SDK cost on top of raw HTTP.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/joinedup/joinedup/server/push"
	"github.com/joinedup/joinedup/server/push/fcmfake"
	"github.com/joinedup/joinedup/server/sqlite"
)

func main() {
	n := flag.Int("n", 100_000, "follow-ups falling due at once")
	conc := flag.Int("concurrency", 2, "Sender batches in flight (each SendEach runs 50 requests at a time)")
	batch := flag.Int("batch", 500, "Sender batch size (≤500)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Sender phase here")
	flag.Parse()
	profile = *cpuprofile
	if err := run(*n, *conc, *batch); err != nil {
		log.Fatal(err)
	}
}

var profile string

func run(n, conc, batch int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pushbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	store := db.Outbox()
	due := time.Now()

	setup := time.Now()
	ns := make([]push.Notification, n)
	for i := range n {
		if err := store.RegisterToken(ctx, fmt.Sprintf("dev%d", i), fmt.Sprintf("p%d", i), fmt.Sprintf("tok-%d", i), "android"); err != nil {
			return err
		}
		ns[i] = push.Notification{ID: fmt.Sprintf("n%d", i), RecipientKind: push.RecipientPerson,
			RecipientID: fmt.Sprintf("p%d", i), Kind: push.KindFollowUpDue, RecordID: fmt.Sprintf("fu%d", i), NotBefore: due}
	}
	if err := store.Enqueue(ctx, ns...); err != nil {
		return err
	}
	fmt.Printf("setup: %d tokens + %d outbox rows in %v\n", n, n, time.Since(setup).Round(time.Millisecond))

	fake := fcmfake.New()
	fake.Record = false
	defer fake.Close()
	inFlight := conc * 50

	// Baseline: the same payloads, posted by a bare loop with the same concurrency.
	bodies := make([][]byte, n)
	for i, nt := range ns {
		b, err := json.Marshal(map[string]any{"message": push.BuildMessage(nt, fmt.Sprintf("tok-%d", i), "")})
		if err != nil {
			return err
		}
		bodies[i] = b
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100, MaxIdleConns: 200}}
	url := fake.URL + "/v1/projects/bench/messages:send"
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				resp, err := hc.Post(url, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	baseDur := time.Since(start)
	baseRate := float64(n) / baseDur.Seconds()
	fmt.Printf("baseline (bare net/http, %d in flight): %d POSTs in %v = %.0f/s (failed %d)\n",
		inFlight, n, baseDur.Round(time.Millisecond), baseRate, failed.Load())

	fake.Reset()
	s, err := push.NewSender(ctx, push.Config{
		ProjectID: "bench", Endpoint: fake.URL, BatchSize: batch, Concurrency: conc,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options: []option.ClientOption{option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bench"}))},
	}, store)
	if err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	sent := 0
	for sent < n {
		k, err := s.SendDue(ctx)
		if err != nil {
			return err
		}
		if k == 0 {
			return fmt.Errorf("stalled after %d sent: %+v", sent, s.Stats())
		}
		sent += k
	}
	dur := time.Since(start)
	rate := float64(n) / dur.Seconds()
	counts, _ := store.Counts(ctx)
	fmt.Printf("push.Sender (outbox + Firebase Admin SDK SendEach, batch %d, %d batches in flight): %d notifications, last sent after %v = %.0f/s\n",
		batch, conc, n, dur.Round(time.Millisecond), rate)
	fmt.Printf("fake FCM received %d requests; outbox %v\n", fake.Count(), counts)
	fmt.Printf("ratio push/baseline: %.2f (throughput), time to last sent %.2fx baseline\n", rate/baseRate, dur.Seconds()/baseDur.Seconds())
	return nil
}
