package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The container's entrypoint stops with a clear message when the data
// directory cannot be written (a root-owned bind mount), and otherwise runs
// the server on every interface at $PORT.
func TestDockerEntrypoint(t *testing.T) {
	script, err := filepath.Abs("../../../scripts/docker-entrypoint.sh")
	must(t, err)
	tmp := t.TempDir()
	notADir := filepath.Join(tmp, "file")
	must(t, os.WriteFile(notADir, nil, 0o600))
	for _, tc := range []struct {
		name, dataDir string
		wantExit      int
		wantOut       []string
	}{
		// A regular file stands in for an unwritable mount: the tests may run
		// as root, for whom no permission bit refuses a write.
		{"unwritable data directory", filepath.Join(notADir, "data"), 1, []string{"is not writable by uid", "chown", "--user"}},
		{"writable", filepath.Join(tmp, "data"), 0, []string{"-addr :9123 -demo=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A stand-in server binary that prints its arguments.
			bin := t.TempDir()
			fake := filepath.Join(bin, "joinedup")
			must(t, os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755))
			src, err := os.ReadFile(script)
			must(t, err)
			entry := filepath.Join(bin, "entrypoint.sh")
			must(t, os.WriteFile(entry, []byte(strings.ReplaceAll(string(src), "/usr/local/bin/joinedup", fake)), 0o755))
			cmd := exec.Command("/bin/sh", entry, "-demo=false")
			cmd.Env = append(os.Environ(), "DATA_DIR="+tc.dataDir, "PORT=9123")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantExit, out)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// The image's health check follows $PORT and asks readiness; stopping
// leaves in-flight syncs their time.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../../Dockerfile")
	must(t, err)
	df := string(b)
	hc := regexp.MustCompile(`(?m)^\s*CMD \["/usr/local/bin/joinedup", "-healthcheck"\]\s*$`)
	if !hc.MatchString(df) || strings.Contains(df, `"-addr", ":8080"`) {
		t.Error("HEALTHCHECK must probe localhost:$PORT (no pinned -addr)")
	}
	for _, want := range []string{"STOPSIGNAL SIGTERM", "--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build", "docker-entrypoint.sh"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
