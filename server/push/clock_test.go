package push

import (
	"fmt"
	"testing"
)

// sscanfClock is parseClock as it was, all through Sscanf: the reference
// for its fast path.
func sscanfClock(s string, allow24 bool) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil {
		return 0, false
	}
	if m < 0 || m > 59 || h < 0 || h > 24 || (h == 24 && (m != 0 || !allow24)) {
		return 0, false
	}
	return h*60 + m, true
}

// FuzzParseClock: a window's clock reads the same with the fast path as
// through Sscanf, whatever the stored text.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"09:00", "24:00", "23:59", "9:00", " 9:00", "+9:00", "09:+5", "-1:00", "09:60", "ab:cd", "0x:10", "09:00 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, allow24 := range []bool{false, true} {
			gm, gok := parseClock(s, allow24)
			wm, wok := sscanfClock(s, allow24)
			if gm != wm || gok != wok {
				t.Fatalf("parseClock(%q, %v) = %d, %v; Sscanf gives %d, %v", s, allow24, gm, gok, wm, wok)
			}
		}
	})
}
