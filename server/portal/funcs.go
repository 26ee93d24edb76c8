package portal

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/joinedup/joinedup/server/i18n"
)

// funcs are the template functions of one language: every page is parsed
// once per language with these bound, so a template just writes
// {{t "English text"}} and gets the reader's language.
func (p *Portal) funcs(pr *i18n.Printer) template.FuncMap {
	local := func(t time.Time) time.Time { return t.In(p.loc) }
	return template.FuncMap{
		// t translates an English printf format (the catalogue key) and
		// formats args into it; plurals are the catalogue's ("1 encounter").
		"t": pr.T,
		// th is t for a message whose translation holds markup (<code>,
		// <strong>): the catalogue is ours and trusted, the arguments are
		// escaped.
		"th": func(key string, args ...any) template.HTML {
			esc := make([]any, len(args))
			for i, a := range args {
				esc[i] = template.HTMLEscapeString(fmt.Sprint(a))
			}
			return template.HTML(pr.T(key, esc...))
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return pr.Time(local(t), "Mon 2 Jan 2006, 15:04")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return pr.Time(local(t), "2 Jan 2006")
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
		"ago":  func(t time.Time) string { return timeAgo(pr, p.now(), t) },
		"dur":  pr.Duration,
		"join": strings.Join,
		// human words a raw value of a record ("mental_health", "submitted").
		"human": pr.Value,
		// said shows text stored as written (a quarantine's refusal) in the
		// reader's language when the catalogue holds it, else as written:
		// stored text is not a key, so it is not counted as a miss.
		"said": func(s string) string {
			if i18n.Has(pr.Lang, s) {
				return pr.T(s)
			}
			return s
		},
		"weekday": pr.Weekday,
		// field names a record field ("young_person_id") in words.
		"field": func(f string) string { return pr.T(fieldLabel(f)) },
		"fields": func(fs []string) string {
			out := make([]string, len(fs))
			for i, f := range fs {
				out[i] = pr.T(fieldLabel(f))
			}
			return strings.Join(out, ", ")
		},
		// humans words each of a list of raw values, joined with commas.
		"humans": func(vs []string) string {
			out := make([]string, len(vs))
			for i, v := range vs {
				out[i] = pr.Value(v)
			}
			return strings.Join(out, ", ")
		},
		"add": func(a, b int) int { return a + b },
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
	}
}
