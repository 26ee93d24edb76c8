// Command load times the field app's first usable screen in headless
// Chromium, against the real server on loopback, each figure as a ratio to
// a baseline measured in the same run and the same browser conditions:
//
//   - first load on a simulated 3G link (DevTools network emulation) against
//     the portal's sign-in page over the same link;
//   - a later load from the service worker's cache, offline, against a
//     navigation to a small file from the same cache (so the ratio is the
//     app's own start: compiling the engine, opening IndexedDB, drawing).
//
// "First usable screen" is precisely: from the navigation's start until the
// engine is running (window.joinedup exists, so a tap gets an answer) and
// the screen a new phone opens on (enrol) is shown, so a person can type
// the code and set the phone up. A shell drawn before the engine runs does
// not count: nothing on it would work yet. The portal's baseline is its
// sign-in page fully loaded (document.readyState "complete"), the small
// file's the same.
//
// run.sh builds the server and the engine (as `make webapp` does, with its
// compressed copies) and runs it; figures are medians of -runs fresh
// browser profiles.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/joinedup/joinedup/fixtures/serverproc"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Regular 3G as DevTools defines it.
var threeG = network.Conditions{Latency: 100, DownloadThroughput: 750 * 1024 / 8, UploadThroughput: 250 * 1024 / 8}

func main() {
	server := flag.String("server", "", "the joinedup binary")
	engine := flag.String("engine", "", "directory with app.wasm and wasm_exec.js")
	chrome := flag.String("chrome", envOr("CHROMIUM_PATH", "/usr/bin/chromium"), "Chromium")
	runs := flag.Int("runs", 3, "fresh browser profiles per figure")
	verbose := flag.Bool("v", false, "print each run's times to stderr (for telling a slow link from a slow machine)")
	out := flag.String("json", "", "write the figures here as JSON")
	flag.Parse()
	if err := run(*server, *engine, *chrome, *runs, *out, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench/webapp/load:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(server, engine, chrome string, runs int, out string, verbose bool) error {
	base, stop, err := startServer(server, engine)
	if err != nil {
		return err
	}
	defer stop()
	var app3G, portal3G, appCache, fileCache []time.Duration
	for i := 0; i < runs; i++ {
		m, err := measure(chrome, base)
		if err != nil {
			return err
		}
		if verbose {
			fmt.Fprintf(os.Stderr, "run %d: app 3G %v, portal 3G %v, app cached %v, file cached %v\n", i+1,
				m.app3G.Round(time.Millisecond), m.portal3G.Round(time.Millisecond), m.appCache.Round(time.Millisecond), m.fileCache.Round(time.Millisecond))
		}
		app3G, portal3G = append(app3G, m.app3G), append(portal3G, m.portal3G)
		appCache, fileCache = append(appCache, m.appCache), append(fileCache, m.fileCache)
	}
	r3G := float64(median(app3G)) / float64(median(portal3G))
	rCache := float64(median(appCache)) / float64(median(fileCache))
	fmt.Printf("field app, first usable screen (median of %d fresh profiles):\n", runs)
	fmt.Printf("  first load, simulated 3G (750/250 kbit/s, 100 ms)  %6.2f x the portal's sign-in page on the same link\n", r3G)
	fmt.Printf("  later load, from the service worker cache, offline %6.2f x a small file from the same cache\n", rCache)
	if out != "" {
		b, _ := json.Marshal(map[string]float64{"first_load_3g_vs_portal_login": r3G, "cached_load_vs_cached_file": rCache})
		return os.WriteFile(out, b, 0o644)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

type measurement struct{ app3G, portal3G, appCache, fileCache time.Duration }

func measure(chrome, base string) (measurement, error) {
	var m measurement
	dir, err := os.MkdirTemp("", "webapp-load")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	browser, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	browser, cancelT := context.WithTimeout(browser, 10*time.Minute)
	defer cancelT()
	if _, err := chromedp.Run(browser, chromedp.Navigate("about:blank")); err != nil {
		return m, fmt.Errorf("start chromium: %w", err)
	}
	tab := func() (context.Context, context.CancelFunc, error) {
		ctx, cancel := chromedp.NewContext(browser)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740))
		return ctx, cancel, err
	}
	// The portal's sign-in page over 3G (its own tab: nothing cached).
	ctx, cancel, err := tab()
	if err != nil {
		return m, err
	}
	if err := conditions(ctx, threeG, false); err != nil {
		return m, err
	}
	if m.portal3G, err = timeTo(ctx, base+"/portal/login", `document.readyState === "complete"`); err != nil {
		return m, fmt.Errorf("portal: %w", err)
	}
	cancel()
	// The app's first load over 3G.
	ctx, cancel, err = tab()
	if err != nil {
		return m, err
	}
	defer cancel()
	if err := conditions(ctx, threeG, false); err != nil {
		return m, err
	}
	ready := `typeof joinedup === "object" && !document.getElementById("enrol").hidden`
	if m.app3G, err = timeTo(ctx, base+"/app/", ready); err != nil {
		return m, fmt.Errorf("app over 3G: %w", err)
	}
	// Until the service worker has the engine cached (whatever its cache is
	// called this version).
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`navigator.serviceWorker.ready.then(() => caches.match("app.wasm")).then((r) => !!r)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute))); err != nil {
		return m, fmt.Errorf("service worker: %w", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!navigator.serviceWorker.controller`, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		return m, fmt.Errorf("service worker control: %w", err)
	}
	// From the cache, offline: the app, and a small cached file.
	if err := conditions(ctx, network.Conditions{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}, true); err != nil {
		return m, err
	}
	if m.appCache, err = timeTo(ctx, base+"/app/", ready); err != nil {
		return m, fmt.Errorf("app from the cache: %w", err)
	}
	if m.fileCache, err = timeTo(ctx, base+"/app/manifest.webmanifest", `document.readyState === "complete"`); err != nil {
		return m, fmt.Errorf("file from the cache: %w", err)
	}
	return m, nil
}

// conditions emulates a link for the tab (and, offline, its service worker).
func conditions(ctx context.Context, c network.Conditions, sw bool) error {
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		EmulateOfflineServiceWorker: &sw, MatchedNetworkConditions: []*network.Conditions{&c}})
	return err
}

// timeTo navigates and waits until cond holds.
func timeTo(ctx context.Context, url, cond string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return 0, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(4*time.Minute))); err != nil {
		// Say what the page shows, so a page that cannot start is told
		// apart from a slow one.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer dcancel()
		shown, derr := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 300) : document.readyState`))
		if derr != nil {
			shown = derr.Error()
		}
		return 0, fmt.Errorf("%s: %w (the page shows %q)", url, err, shown)
	}
	return time.Since(start), nil
}

func startServer(bin, engine string) (string, func(), error) {
	data, err := os.MkdirTemp("", "webapp-load-data")
	if err != nil {
		return "", nil, err
	}
	base, stop, err := serverproc.Start(bin, []string{"-addr", "127.0.0.1:0", "-bcrypt-cost", "4", "-log-level", "warn"},
		[]string{"DATA_DIR=" + data, "WEBAPP_DIR=" + engine})
	if err != nil {
		os.RemoveAll(data)
		return "", nil, err
	}
	return base, func() { stop(); os.RemoveAll(data) }, nil
}
