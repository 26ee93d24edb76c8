package portal

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

func (p *Portal) funcs() template.FuncMap {
	local := func(t time.Time) time.Time { return t.In(p.loc) }
	return template.FuncMap{
		// plural writes "1 encounter" and "2 encounters", never "1 encounters".
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return "1 " + one
			}
			return strconv.Itoa(n) + " " + many
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return local(t).Format("Mon 2 Jan 2006, 15:04")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return local(t).Format("2 Jan 2006")
		},
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return local(t).Format("15:04")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"ago":   func(t time.Time) string { return timeAgo(p.now(), t) },
		"dur":   humanDuration,
		"join":  strings.Join,
		"human": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
		"add":   func(a, b int) int { return a + b },
		"idx": func(s []int, i int) int {
			if i < len(s) {
				return s[i]
			}
			return 0
		},
		"has": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"eq2": func(a, b string) bool { return a == b },
		// t is the message catalogue's lookup; an identity placeholder here
		// until helper portalui's catalogue (Welsh) lands and replaces it.
		"t": func(key string, args ...any) string {
			if len(args) == 0 {
				return key
			}
			return fmt.Sprintf(key, args...)
		},
	}
}
