package syncengine

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the hand-written matchers (patterns.go) replace:
// the oracle every case and every random string is checked against.
var (
	fieldNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)
	recordIDRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	coordsRE    = regexp.MustCompile(`-?\d{1,3}\.\d{3,}\s*,\s*-?\d{1,3}\.\d{3,}`)
)

var patterns = []struct {
	name string
	re   *regexp.Regexp
	fn   func(string) bool
}{
	{"field name", fieldNameRE, validFieldName},
	{"record id", recordIDRE, ValidRecordID},
	{"coordinates", coordsRE, hasCoords},
}

func TestPatternsMatchTheirRegexp(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []string{
		"", "a", "_", "A", "0", "-", "a0", "0a", "a-b", "Ab", "a_b", "a b", "a\n", "\na", "é", "aé",
		long, long + "a", "_" + long[1:], "9" + long[1:], strings.Repeat("Z", 65),
		"51.507, -0.127", "51.5074,-0.1278", "51.5074 , -0.1278", "51.5074,\t\n-0.1278", "51.5074,\v-0.1278",
		"at 51.5074, -0.1278 tonight", "51.50, -0.1278", "51.507, -0.12", "1234.5678, 1.234", "1.234,1234.567",
		"-1.234,-1.234", "--1.234,--1.234", "1.234, -.234", ".234, 1.234", "1.2345.678, 1.234", "1.234,, 1.234",
		"1.234 ,1.2345", "1.23a4, 1.234", "1.234,1.23", "1.234,1.234x", "١.٢٣٤, ١.٢٣٤", "1.234\u00a0,1.234",
		"1.234, 12.345, 123.4567", "park bench by the river", "999.999,999.999", "0.000,0.000",
		"1.234" + string([]byte{0xff}) + ",1.234", "12.3456\r,\f-78.9012",
	}
	for _, p := range patterns {
		for _, s := range cases {
			if got, want := p.fn(s), p.re.MatchString(s); got != want {
				t.Errorf("%s %q: got %v, the regexp says %v", p.name, s, got, want)
			}
		}
	}
}

// TestPatternsRandom draws strings from the alphabet the patterns care about
// (and a little besides), where a hand-written matcher goes wrong if it can.
func TestPatternsRandom(t *testing.T) {
	alphabets := []string{"0123456789.,- \t\n\v\fx", "aZz_9-0 .é", "12.3,-"}
	rng := rand.New(rand.NewPCG(17, 5))
	for i := 0; i < 200000; i++ {
		alpha := []rune(alphabets[i%len(alphabets)])
		n := rng.IntN(40)
		if i%100 == 0 {
			n = 60 + rng.IntN(10) // around the 64-byte limits
		}
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteRune(alpha[rng.IntN(len(alpha))])
		}
		s := b.String()
		for _, p := range patterns {
			if got, want := p.fn(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s %q: got %v, the regexp says %v", p.name, s, got, want)
			}
		}
	}
}

func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"", "abc", "51.5074, -0.1278", "x1.234 ,\t-12.3456y", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range patterns {
			if got, want := p.fn(s), p.re.MatchString(s); got != want {
				t.Fatalf("%s %q: got %v, the regexp says %v", p.name, s, got, want)
			}
		}
	})
}
