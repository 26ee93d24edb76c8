package syncengine

import "testing"

func TestSimilarNames(t *testing.T) {
	names := []struct {
		a, b string
		want bool
	}{
		{"Ash H", "Ash D", false}, {"Ash H", "Ash H.", true}, {"Zoe-Lee", "zoelee", true}, {"Chlo P", "Chlo", true},
		{"Alexandra", "Alexandria", true}, {"Kai", "Kia", false}, {"Jo Smith", "Jo Smyth", true}, {"", "", false},
	}
	for _, n := range names {
		if got := similarNames(n.a, n.b); got != n.want {
			t.Errorf("similarNames(%q, %q) = %v, want %v", n.a, n.b, got, n.want)
		}
	}
}
