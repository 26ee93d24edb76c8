// Package i18n holds the server's message catalogues (English and Welsh) and
// picks a person's language.
//
// Keys are the English printf formats themselves ("Signed off %d
// encounters"), so a template or handler reads as English and a missing
// translation still shows something sensible. Messages are looked up in a
// golang.org/x/text/message catalogue, which brings CLDR plural rules (Welsh
// has six plural forms) and locale number formatting; we do not hand-roll
// either. Each language's messages live in one file (en.go, cy.go) so that
// adding a page's strings is adding lines to two maps.
//
// A lookup of a key the language's catalogue does not hold is recorded
// (Misses), so a test can walk every page in Welsh and fail on any English
// left behind.
package i18n

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Language codes as a person's setting stores them.
const (
	English = "en"
	Welsh   = "cy"
)

// Languages are the languages offered, in the order a picker lists them.
var Languages = []string{English, Welsh}

// Name is each language's name in itself (a picker shows it so).
var Name = map[string]string{English: "English", Welsh: "Cymraeg"}

var tags = map[string]language.Tag{English: language.BritishEnglish, Welsh: language.MustParse("cy")}

var matcher = language.NewMatcher([]language.Tag{tags[English], tags[Welsh]})

// Valid reports whether code is an offered language.
func Valid(code string) bool { _, ok := tags[code]; return ok }

// Match is the language to use: the person's own setting when they chose
// one, else the best of the browser's Accept-Language, else English.
func Match(setting, acceptLanguage string) string {
	if Valid(setting) {
		return setting
	}
	if acceptLanguage == "" {
		return English
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return English
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return English
	}
	return []string{English, Welsh}[i]
}

// Plural is a message that depends on a count: the count is argument Arg
// (1-based; 0 means 1). Only the forms a language uses need be given; Other
// is required. CLDR decides which form a number takes.
type Plural struct {
	Arg                              int
	Zero, One, Two, Few, Many, Other string
}

// Messages is one language's catalogue: a translation per key, plain or plural.
type Messages struct {
	Text   map[string]string
	Plural map[string]Plural
}

var (
	builder = catalog.NewBuilder(catalog.Fallback(language.BritishEnglish))
	known   = map[string]map[string]bool{}
)

// register adds a language's messages (called from en.go and cy.go).
func register(code string, m Messages) {
	tag := tags[code]
	k := known[code]
	if k == nil {
		k = map[string]bool{}
		known[code] = k
	}
	for key, s := range m.Text {
		if err := builder.SetString(tag, key, s); err != nil {
			panic(fmt.Sprintf("i18n %s %q: %v", code, key, err))
		}
		k[key] = true
	}
	for key, pl := range m.Plural {
		arg := pl.Arg
		if arg == 0 {
			arg = 1
		}
		var cases []any
		for _, c := range []struct{ sel, msg string }{{"one", pl.One}, {"two", pl.Two}, {"few", pl.Few}, {"many", pl.Many}} {
			if c.msg != "" {
				cases = append(cases, c.sel, c.msg)
			}
		}
		cases = append(cases, "other", pl.Other)
		if pl.Zero != "" {
			// Exactly zero, in every language (English has no CLDR zero form).
			cases = append([]any{"=0", pl.Zero}, cases...)
		}
		if err := builder.Set(tag, key, plural.Selectf(arg, "%d", cases...)); err != nil {
			panic(fmt.Sprintf("i18n %s %q: %v", code, key, err))
		}
		k[key] = true
	}
}

// Printer formats messages in one language.
type Printer struct {
	Lang string
	p    *message.Printer
}

var (
	printersMu sync.Mutex
	printers   = map[string]*Printer{}
)

// For returns the printer of a language (English for an unknown code).
func For(code string) *Printer {
	if !Valid(code) {
		code = English
	}
	printersMu.Lock()
	defer printersMu.Unlock()
	if pr := printers[code]; pr != nil {
		return pr
	}
	pr := &Printer{Lang: code, p: message.NewPrinter(tags[code], message.Catalog(builder))}
	printers[code] = pr
	return pr
}

// T translates key (an English printf format) and formats args into it.
// English keys need no entry (the key is the English), except plurals and
// the few raw values English words differently; every other language must
// hold every key, and a key it lacks is recorded as a miss.
func (pr *Printer) T(key string, args ...any) string {
	if pr.Lang != English && !known[pr.Lang][key] {
		recordMiss(pr.Lang, key)
	}
	return pr.p.Sprintf(key, args...)
}

// Has reports whether lang's catalogue holds key.
func Has(lang, key string) bool { return known[lang][key] }

// Keys lists the keys lang's catalogue holds, sorted.
func Keys(lang string) []string {
	out := make([]string, 0, len(known[lang]))
	for k := range known[lang] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	missMu sync.Mutex
	misses = map[string]bool{}
)

func recordMiss(lang, key string) {
	missMu.Lock()
	misses[lang+": "+key] = true
	missMu.Unlock()
}

// Misses returns (and forgets) the keys looked up in a language whose
// catalogue lacks them since the last call, as "cy: key", sorted.
func Misses() []string {
	missMu.Lock()
	defer missMu.Unlock()
	out := make([]string, 0, len(misses))
	for k := range misses {
		out = append(out, k)
	}
	clear(misses)
	sort.Strings(out)
	return out
}

// Refusal words a domain or store refusal (its English format and
// arguments, domain.ErrorText) in pr's language. An argument that is itself
// a catalogue word (a role, a weekday, a status) is translated too; names
// and ids are not catalogue keys and stay as written. A format the
// catalogue lacks is recorded as a miss, as by T.
func (pr *Printer) Refusal(key string, args []any) string {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
		if v := reflect.ValueOf(a); v.IsValid() && v.Kind() == reflect.String {
			if s := v.String(); Has(pr.Lang, s) {
				out[i] = pr.T(s)
			}
		}
	}
	return pr.T(key, out...)
}

// Value words a raw value of a record or setting ("mental_health",
// "not-said") in lang: the value with underscores as spaces is the key. A
// value with no letters (an age band "11-13") is shown as it is.
func (pr *Printer) Value(v string) string {
	if v == "" || !strings.ContainsAny(strings.ToLower(v), "abcdefghijklmnopqrstuvwxyz") {
		return v
	}
	return pr.T(strings.ReplaceAll(v, "_", " "))
}
