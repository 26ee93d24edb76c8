package domain_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/joinedup/joinedup"

// listed is what `go list -json` says about one package.
type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// goList runs `go list -json` (with -deps when deps is set) from the module
// root and decodes its stream of packages.
func goList(t *testing.T, deps bool, patterns ...string) []listed {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := []string{"list", "-json=ImportPath,Imports,Deps"}
	if deps {
		args = append(args, "-deps")
	}
	cmd := exec.Command(gobin, append(args, patterns...)...)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// The layers, as `go list` sees them: the engine depends on nothing of ours;
// the server's domain on the engine and the standard library only; no
// consumer of the store (HTTP API, portal, rules, push delivery) imports a
// store, only the programs that wire them do.
func TestDependencyRules(t *testing.T) {
	pkgs := goList(t, false, module+"/...")
	byPath := map[string]listed{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	for _, p := range goList(t, true, module+"/server/domain", module+"/syncengine/...",
		module+"/server/api", module+"/server/portal", module+"/server/notify", module+"/server/push",
		module+"/server/signin", module+"/server/httperr") {
		if q, ok := byPath[p.ImportPath]; ok {
			q.Deps = p.Deps
			byPath[p.ImportPath] = q
		}
	}

	rules := []struct {
		name   string
		pkg    func(string) bool // which packages the rule is about
		forbid func(dep string) bool
	}{
		{"the engine imports nothing of ours outside syncengine",
			func(p string) bool { return under(p, module+"/syncengine") },
			func(d string) bool { return under(d, module) && !under(d, module+"/syncengine") }},
		{"no store, SQL, HTTP framework or push SDK below the domain",
			func(p string) bool { return p == module+"/server/domain" },
			func(d string) bool {
				return under(d, module+"/server") && d != module+"/server/domain" || d == "database/sql" ||
					under(d, "github.com/gofiber/fiber/v2") || under(d, "github.com/valyala/fasthttp") ||
					under(d, "firebase.google.com/go/v4") || under(d, "github.com/mattn/go-sqlite3")
			}},
		{"store consumers do not import a store",
			func(p string) bool {
				for _, c := range []string{"/server/api", "/server/portal", "/server/notify", "/server/push", "/server/signin", "/server/httperr"} {
					if p == module+c {
						return true
					}
				}
				return false
			},
			func(d string) bool {
				return under(d, module+"/server/sqlite") || under(d, "github.com/mattn/go-sqlite3")
			}},
	}
	for _, r := range rules {
		checked := 0
		for path, p := range byPath {
			if !r.pkg(path) {
				continue
			}
			checked++
			for _, d := range p.Deps {
				if r.forbid(d) {
					t.Errorf("%s: %s depends on %s", r.name, path, d)
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no package matched (was one renamed?)", r.name)
		}
	}

	// The domain's own imports: the engine and the standard library only.
	for _, imp := range byPath[module+"/server/domain"].Imports {
		stdlib := !strings.Contains(strings.Split(imp, "/")[0], ".")
		if !stdlib && !under(imp, module+"/syncengine") || imp == "database/sql" {
			t.Errorf("server/domain imports %s: only the engine and the standard library", imp)
		}
	}

	// Only programs wire a store: cmd/joinedup and the benchmarks' mains.
	for path, p := range byPath {
		if under(path, module+"/server/sqlite") || under(path, module+"/server/cmd") || under(path, module+"/bench") {
			continue
		}
		for _, imp := range p.Imports {
			if under(imp, module+"/server/sqlite") {
				t.Errorf("%s imports %s: only server/cmd/joinedup wires the store", path, imp)
			}
		}
	}
}
