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
// gobind is the module's own tool (go.mod's tool directive), run with
// `go tool`, so it is the version go.mod pins and needs nothing on PATH.
func TestBindable(t *testing.T) {
	outdir := t.TempDir()
	cmd := exec.Command("go", "tool", "gobind", "-lang=java", "-outdir", outdir, "github.com/joinedup/joinedup/mobile-sdk")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool gobind failed: %v\n%s", err, out)
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
