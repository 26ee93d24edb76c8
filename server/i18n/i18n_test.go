package i18n

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		setting, accept, want string
	}{
		{"", "", English},
		{"", "cy", Welsh},
		{"", "cy-GB,cy;q=0.9,en-GB;q=0.8", Welsh},
		{"", "en-GB,en;q=0.9,cy;q=0.8", English},
		{"", "fr-FR, de;q=0.5", English},
		{"", "en-US", English},
		{"cy", "en-GB", Welsh}, // the person's own choice wins
		{"en", "cy", English},  // in both directions
		{"xx", "cy", Welsh},    // an unknown setting is ignored
		{"", "not a header;;;", English},
	} {
		if got := Match(tc.setting, tc.accept); got != tc.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tc.setting, tc.accept, got, tc.want)
		}
	}
}

// FuzzMatch: any Accept-Language a browser (or an attacker) sends picks an
// offered language, without panicking.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"", "cy", "en-GB,en;q=0.9", "*", "cy;q=abc", "x-klingon;q=1.0, cy;q=0.1"} {
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, setting, accept string) {
		if got := Match(setting, accept); !slices.Contains(Languages, got) {
			t.Fatalf("Match(%q, %q) = %q, not an offered language", setting, accept, got)
		}
	})
}

func TestPlurals(t *testing.T) {
	en, cy := For(English), For(Welsh)
	for _, tc := range []struct {
		pr   *Printer
		key  string
		n    int
		want string
	}{
		{en, "%d encounters", 1, "1 encounter"},
		{en, "%d encounters", 0, "0 encounters"},
		{en, "%d encounters", 2, "2 encounters"},
		{en, "%d encounters", 1200, "1,200 encounters"},
		{en, "%d young people", 1, "1 young person"},
		{en, "%d concerns are waiting for a supervisor to acknowledge them.", 0, "No concern is waiting for acknowledgement."},
		{en, "%d concerns are waiting for a supervisor to acknowledge them.", 1, "1 concern is waiting for a supervisor to acknowledge it."},
		{en, "%d concerns are waiting for a supervisor to acknowledge them.", 3, "3 concerns are waiting for a supervisor to acknowledge them."},
		{cy, "%d encounters", 1, "1 cyfarfyddiad"},
		{cy, "%d encounters", 6, "6 cyfarfyddiad"},
		{cy, "%d concerns are waiting for a supervisor to acknowledge them.", 0, "Does dim pryder yn aros i gael ei gydnabod."},
		{cy, "%d concerns are waiting for a supervisor to acknowledge them.", 1, "Mae 1 pryder yn aros i oruchwyliwr ei gydnabod."},
		{cy, "%d concerns are waiting for a supervisor to acknowledge them.", 2, "Mae 2 pryder yn aros i oruchwyliwr eu cydnabod."},
	} {
		if got := tc.pr.T(tc.key, tc.n); got != tc.want {
			t.Errorf("%s %q %d = %q, want %q", tc.pr.Lang, tc.key, tc.n, got, tc.want)
		}
	}
	Misses()
}

func TestDurationsOneWay(t *testing.T) {
	en, cy := For(English), For(Welsh)
	for _, tc := range []struct {
		d      time.Duration
		en, cy string
	}{
		{20 * time.Second, "under a minute", "llai na munud"},
		{time.Minute, "1 minute", "1 munud"},
		{45 * time.Minute, "45 minutes", "45 munud"},
		{time.Hour, "1 hour", "1 awr"},
		{47 * time.Hour, "47 hours", "47 awr"},
		{49 * time.Hour, "2 days", "2 diwrnod"},
		{24 * 30 * time.Hour, "30 days", "30 diwrnod"},
	} {
		if got := en.Duration(tc.d); got != tc.en {
			t.Errorf("en %v = %q, want %q", tc.d, got, tc.en)
		}
		if got := cy.Duration(tc.d); got != tc.cy {
			t.Errorf("cy %v = %q, want %q", tc.d, got, tc.cy)
		}
	}
	if m := Misses(); len(m) > 0 {
		t.Errorf("misses: %v", m)
	}
}

func TestWelshDates(t *testing.T) {
	at := time.Date(2025, 10, 24, 20, 30, 0, 0, time.UTC)
	if got := For(Welsh).Time(at, "Mon 2 Jan 2006, 15:04"); got != "Gwe 24 Hyd 2025, 20:30" {
		t.Errorf("Welsh date %q", got)
	}
	if got := For(English).Time(at, "Mon 2 Jan 2006, 15:04"); got != "Fri 24 Oct 2025, 20:30" {
		t.Errorf("English date %q", got)
	}
}

var verbRe = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestWelshKeepsEveryArgument: each Welsh message takes the same printf
// arguments as its key, in the same order, so no count or name is lost or
// swapped; and a miss is recorded.
func TestWelshKeepsEveryArgument(t *testing.T) {
	check := func(key, msg string) {
		if k, m := verbRe.FindAllString(key, -1), verbRe.FindAllString(msg, -1); !slices.Equal(k, m) {
			t.Errorf("%q: arguments %v, Welsh %q has %v", key, k, msg, m)
		}
	}
	for k, v := range cyText {
		check(k, v)
	}
	for k, p := range cyPlural {
		for _, form := range []string{p.One, p.Two, p.Few, p.Many, p.Other} {
			if form != "" {
				check(k, form)
			}
		}
	}
	Misses()
	For(Welsh).T("A key nobody translated")
	if m := Misses(); !slices.Equal(m, []string{"cy: A key nobody translated"}) {
		t.Errorf("misses = %v", m)
	}
}

// TestConcurrentLookups: pages render in parallel; the printers and the
// catalogue are shared (run under -race).
func TestConcurrentLookups(t *testing.T) {
	done := make(chan bool)
	for g := range 8 {
		go func() {
			pr := For(Languages[g%2])
			for i := range 200 {
				_ = pr.T("%d encounters", i)
				_ = pr.Duration(time.Duration(i) * time.Minute)
			}
			done <- true
		}()
	}
	for range 8 {
		<-done
	}
}
