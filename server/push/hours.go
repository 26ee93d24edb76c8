package push

import (
	"fmt"
	"sync"
	"time"
)

// Hours is one working window in the recipient's local time: from Start ("HH:MM") on Weekday
// to End. An End at or before Start crosses midnight into the next day (an evening shift
// "18:00"-"02:00"); "24:00" is allowed as End; Start == End is a whole day from Start.
type Hours struct {
	Weekday    time.Weekday
	Start, End string
}

// ValidateHours reports whether tz names a known time zone and every window parses. The server
// should call it when hours are saved; NextAllowed itself never fails.
func ValidateHours(tz string, hours []Hours) error {
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("push: time zone %q: %w", tz, err)
	}
	for _, h := range hours {
		if h.Weekday < time.Sunday || h.Weekday > time.Saturday {
			return fmt.Errorf("push: hours: bad weekday %d", h.Weekday)
		}
		if _, ok := parseClock(h.Start, false); !ok {
			return fmt.Errorf("push: hours: bad start %q", h.Start)
		}
		if _, ok := parseClock(h.End, true); !ok {
			return fmt.Errorf("push: hours: bad end %q", h.End)
		}
	}
	return nil
}

// parseClock returns minutes after midnight.
func parseClock(s string, allow24 bool) (int, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if digit(s[0]) && digit(s[1]) && digit(s[3]) && digit(s[4]) {
		// "HH:MM", as every stored window is: Sscanf costs microseconds,
		// and the rules read every recipient's windows for every notification.
		h, m = int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	} else if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil {
		return 0, false
	}
	if m < 0 || m > 59 || h < 0 || h > 24 || (h == 24 && (m != 0 || !allow24)) {
		return 0, false
	}
	return h*60 + m, true
}

func digit(c byte) bool { return '0' <= c && c <= '9' }

// zones keeps the time zones loaded: time.LoadLocation reads and parses the
// zone's file on every call. Only zones that load are kept, and they are
// the zone database's names, so it stays small.
var zones sync.Map // name -> *time.Location

func location(tz string) (*time.Location, error) {
	if l, ok := zones.Load(tz); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	zones.Store(tz, l)
	return l, nil
}

// NextAllowed returns the earliest instant at or after now that falls inside one of hours in
// time zone tz: now itself when now is inside a window. No hours means "any time". An unknown
// time zone is treated as UTC and unparseable windows are ignored (ValidateHours catches both
// at input); if no window parses, now is returned so nothing is held for ever.
//
// Windows are computed in local wall-clock time with time.Date, so a 09:00 start stays 09:00
// local across a DST change, and a shift across a fall-back night is an hour longer in real
// time (a spring-forward night an hour shorter). A start inside a spring-forward gap is
// normalised by time.Date (it lands an hour later).
func NextAllowed(now time.Time, tz string, hours []Hours) time.Time {
	if len(hours) == 0 {
		return now
	}
	loc, err := location(tz)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	y, mo, d := local.Date()
	var best time.Time
	found := false
	// A window that started yesterday may still be open; one a week ahead is the latest start.
	for off := -1; off <= 7; off++ {
		day := time.Date(y, mo, d+off, 12, 0, 0, 0, loc) // noon: never inside a DST gap
		for _, h := range hours {
			if day.Weekday() != h.Weekday {
				continue
			}
			sm, ok1 := parseClock(h.Start, false)
			em, ok2 := parseClock(h.End, true)
			if !ok1 || !ok2 {
				continue
			}
			dy, dm, dd := day.Date()
			start := time.Date(dy, dm, dd, sm/60, sm%60, 0, 0, loc)
			endDay := dd
			if em <= sm {
				endDay++ // crosses midnight (or a whole day when equal)
			}
			end := time.Date(dy, dm, endDay, em/60, em%60, 0, 0, loc)
			if !now.Before(start) && now.Before(end) {
				return now
			}
			if start.After(now) && (!found || start.Before(best)) {
				best, found = start, true
			}
		}
	}
	if !found {
		return now
	}
	return best.In(now.Location())
}
