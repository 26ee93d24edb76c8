package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Run as a child process, the test binary is fieldsim itself.
func TestMain(m *testing.M) {
	if os.Getenv("FIELDSIM_TEST_MAIN") == "1" {
		os.Args = append([]string{"fieldsim"}, strings.Fields(os.Getenv("FIELDSIM_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A wrong command line prints the usage with every command and exits 2,
// never "internal error"; a typo creates no phone directory.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		wantExit   int
		wantOut    []string // in stderr+stdout
	}{
		{"no arguments", "", 2, []string{"no command given", "commands:", "enrol -server URL", "burst -n N"}},
		{"-h", "-h", 2, []string{"commands:", "logout [-force]"}},
		{"unknown command", "frobnicate", 2, []string{`unknown command "frobnicate"`, "commands:"}},
		{"unknown flag", "sync -bogus", 2, []string{"-bogus", "-page-bytes"}},
		{"help", "help", 0, []string{"commands:", "sync [-page-bytes N]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "phone")
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "FIELDSIM_TEST_MAIN=1", "FIELDSIM_ARGS=-dir "+dir+" "+tc.args)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantExit, out)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "internal") {
				t.Errorf("output says internal:\n%s", out)
			}
			if tc.args != "sync -bogus" {
				if _, err := os.Stat(dir); err == nil {
					t.Errorf("%s created the phone directory", tc.args)
				}
			}
		})
	}
}
