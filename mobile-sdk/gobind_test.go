package mobilesdk

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBindable runs gobind (Java) over this package, as gomobile does for the
// Android app, and fails if any exported identifier could not be bound:
// gobind silently skips what it cannot bind and leaves a "skipped" comment.
// It skips only when gobind is missing outside CI; CI (.ci/run) installs it.
func TestBindable(t *testing.T) {
	gobind, err := exec.LookPath("gobind")
	if err != nil {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		cand := filepath.Join(strings.Split(strings.TrimSpace(string(out)), string(os.PathListSeparator))[0], "bin", "gobind")
		if _, serr := os.Stat(cand); serr == nil {
			gobind = cand
		} else if os.Getenv("CI") == "" {
			t.Skip("gobind not installed (go install golang.org/x/mobile/cmd/gobind@latest); CI runs this")
		} else {
			t.Fatal("gobind not found but CI is set: .ci/run must install it")
		}
	}
	outdir := t.TempDir()
	cmd := exec.Command(gobind, "-lang=java", "-outdir", outdir, "github.com/joinedup/joinedup/mobile-sdk")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gobind failed: %v\n%s", err, out)
	}
	skipped := regexp.MustCompile(`skipped .*`)
	var bad []string
	nJava := 0
	filepath.Walk(outdir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".java") {
			return err
		}
		nJava++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		bad = append(bad, skipped.FindAllString(string(b), -1)...)
		return nil
	})
	if nJava == 0 {
		t.Fatal("gobind produced no Java")
	}
	if len(bad) > 0 {
		t.Fatalf("gobind could not bind these exports (use string, []byte, bool, int64, float64, error, structs of those, interfaces):\n  %s",
			strings.Join(bad, "\n  "))
	}
	// The host app's entry points must be there.
	b, err := os.ReadFile(filepath.Join(outdir, "java", "mobilesdk", "Client.java"))
	if err != nil {
		t.Fatalf("no Client.java: %v", err)
	}
	for _, m := range []string{"syncNow", "enrol", "insertText", "conflicts", "status", "logout", "connectivityChanged", "onPushMessage"} {
		if !strings.Contains(string(b), " "+m+"(") {
			t.Errorf("Client.java lacks %s", m)
		}
	}
}
