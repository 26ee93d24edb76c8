package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	mobilesdk "github.com/joinedup/joinedup/mobile-sdk"
)

// loadReport is what `fieldsim load` prints (one JSON object).
type loadReport struct {
	Devices      int     `json:"devices"`
	SyncsEach    int     `json:"syncs_per_device"`
	Syncs        int     `json:"syncs"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	EnrolSeconds float64 `json:"enrol_seconds"`
	InitialP50Ms float64 `json:"initial_sync_p50_ms"`
	Seconds      float64 `json:"seconds"`
	SyncsPerSec  float64 `json:"syncs_per_sec"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	EditsPerSync int     `json:"edits_per_sync"`
	BytesUpAvg   float64 `json:"bytes_up_avg"`
	BytesDownAvg float64 `json:"bytes_down_avg"`
}

// runLoad simulates many phones: each enrols (codes issued through the admin
// API by a supervisor), syncs once to get its snapshot, then syncs -syncs
// times (with -edits saves before each), all devices at once.
func runLoad(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	server := fs.String("server", "http://localhost:8080", "server URL")
	sup := fs.String("supervisor", "", "EMAIL:PASSWORD of a supervisor who can issue codes")
	people := fs.String("people", "", "comma-separated person ids to enrol devices for (round robin)")
	devices := fs.Int("devices", 10, "simulated devices")
	syncs := fs.Int("syncs", 5, "timed syncs per device")
	edits := fs.Int("edits", 1, "saves before each sync")
	dir := fs.String("dir", "", "where the devices' state lives (default: a temp dir, removed after)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sup == "" || *people == "" {
		return errors.New("load needs -supervisor EMAIL:PASSWORD and -people ID[,ID...]")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "fieldsim-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	// Every simulated phone shares the process's connection pool.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.MaxIdleConns = *devices * 2
		t.MaxIdleConnsPerHost = *devices * 2
	}
	ids := strings.Split(*people, ",")
	rep := loadReport{Devices: *devices, SyncsEach: *syncs, EditsPerSync: *edits}

	// Enrol.
	start := time.Now()
	clients := make([]*mobilesdk.Client, *devices)
	for i := range clients {
		code, err := issueCode(*server, *sup, ids[i%len(ids)])
		if err != nil {
			return fmt.Errorf("issue code %d: %w", i, err)
		}
		key := make([]byte, mobilesdk.KeySize)
		rand.Read(key)
		c, err := mobilesdk.Open(filepath.Join(*dir, fmt.Sprintf("dev%05d", i)), key, "sim")
		if err != nil {
			return err
		}
		defer c.Close()
		for attempt := 0; ; attempt++ {
			_, err = c.Enrol(*server, code)
			if mobilesdk.ErrorCode(err) != "rate_limited" || attempt > 50 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("enrol device %d: %w", i, err)
		}
		clients[i] = c
	}
	rep.EnrolSeconds = time.Since(start).Seconds()

	var mu sync.Mutex
	var initial, lat []time.Duration
	var up, down int64
	fail := func(err error) {
		mu.Lock()
		rep.Errors++
		if rep.FirstError == "" {
			rep.FirstError = mobilesdk.ErrorCode(err) + ": " + mobilesdk.ErrorMessage(err)
		}
		mu.Unlock()
	}
	syncOnce := func(c *mobilesdk.Client) (time.Duration, bool) {
		t0 := time.Now()
		for attempt := 0; ; attempt++ {
			js, err := c.SyncNow()
			if err == nil {
				var s struct{ BytesUp, BytesDown int64 }
				json.Unmarshal([]byte(strings.NewReplacer(`"bytes_up"`, `"BytesUp"`, `"bytes_down"`, `"BytesDown"`).Replace(js)), &s)
				mu.Lock()
				up += s.BytesUp
				down += s.BytesDown
				mu.Unlock()
				return time.Since(t0), true
			}
			if mobilesdk.ErrorCode(err) != "rate_limited" || attempt > 20 {
				fail(err)
				return 0, false
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, ok := syncOnce(c); ok {
				mu.Lock()
				initial = append(initial, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	up, down = 0, 0

	start = time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := 0; s < *syncs; s++ {
				for e := 0; e < *edits; e++ {
					if _, err := c.CreateEncounter(fmt.Sprintf(`{"area":"Load test","note":"device %d sync %d edit %d"}`, i, s, e)); err != nil {
						fail(err)
					}
				}
				if d, ok := syncOnce(c); ok {
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.Syncs = len(lat)
	if rep.Seconds > 0 {
		rep.SyncsPerSec = float64(rep.Syncs) / rep.Seconds
	}
	rep.P50Ms, rep.P99Ms, rep.MaxMs = pct(lat, 50), pct(lat, 99), pct(lat, 100)
	rep.InitialP50Ms = pct(initial, 50)
	if rep.Syncs > 0 {
		rep.BytesUpAvg, rep.BytesDownAvg = float64(up)/float64(rep.Syncs), float64(down)/float64(rep.Syncs)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintf(out, "%s\n", b)
	if rep.Errors > 0 {
		return fmt.Errorf("%d syncs failed; first: %s", rep.Errors, rep.FirstError)
	}
	return nil
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// issueCode asks the admin API for a one-time enrolment code.
func issueCode(server, sup, personID string) (string, error) {
	body, _ := json.Marshal(map[string]string{"person_id": personID})
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, strings.TrimRight(server, "/")+"/v1/admin/enrolment-codes", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sup)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 50 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var r struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &r)
		if resp.StatusCode != http.StatusCreated || r.Code == "" {
			return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, r.Message)
		}
		return r.Code, nil
	}
}
