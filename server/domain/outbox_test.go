package domain

import (
	"regexp"
	"testing"
)

// FuzzOpaqueID: the hand-written check accepts exactly what the regular
// expression it replaced accepted.
func FuzzOpaqueID(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	for _, s := range []string{"", "a", "n0123456789abcdef", "a b", "a\n", "é", "\xff", "<script>",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := OpaqueID(s), re.MatchString(s); got != want {
			t.Fatalf("OpaqueID(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
