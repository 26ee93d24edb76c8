package i18n

import (
	"regexp"
	"time"
)

// Welsh names of days and months, as Go's layouts abbreviate and spell them.
var welshNames = map[string]string{
	"Mon": "Llun", "Tue": "Maw", "Wed": "Mer", "Thu": "Iau", "Fri": "Gwe", "Sat": "Sad", "Sun": "Sul",
	"Monday": "dydd Llun", "Tuesday": "dydd Mawrth", "Wednesday": "dydd Mercher", "Thursday": "dydd Iau",
	"Friday": "dydd Gwener", "Saturday": "dydd Sadwrn", "Sunday": "dydd Sul",
	"Jan": "Ion", "Feb": "Chwef", "Mar": "Maw", "Apr": "Ebr", "May": "Mai", "Jun": "Meh",
	"Jul": "Gorff", "Aug": "Awst", "Sep": "Medi", "Oct": "Hyd", "Nov": "Tach", "Dec": "Rhag",
	"January": "Ionawr", "February": "Chwefror", "March": "Mawrth", "April": "Ebrill", "June": "Mehefin",
	"July": "Gorffennaf", "August": "Awst", "September": "Medi", "October": "Hydref", "November": "Tachwedd",
	"December": "Rhagfyr",
}

var word = regexp.MustCompile(`[A-Za-z]+`)

// Time formats t with a Go layout, naming days and months in the printer's
// language. A layout's only words are day and month names, so every word of
// the English result is one.
func (pr *Printer) Time(t time.Time, layout string) string {
	s := t.Format(layout)
	if pr.Lang != Welsh {
		return s
	}
	return word.ReplaceAllStringFunc(s, func(w string) string {
		if cy, ok := welshNames[w]; ok {
			return cy
		}
		return w
	})
}

// Weekday names a day of the week in full.
func (pr *Printer) Weekday(d time.Weekday) string {
	if pr.Lang == Welsh {
		return welshNames[d.String()]
	}
	return d.String()
}

// Duration writes a length of time the one way the server writes every
// duration: "under a minute", "5 minutes", "3 hours" (under two days), "4 days".
func (pr *Printer) Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return pr.T("under a minute")
	case d < time.Hour:
		return pr.T("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return pr.T("%d hours", int(d.Hours()))
	default:
		return pr.T("%d days", int(d.Hours()/24))
	}
}

// ShortWeekday names a day of the week in three or four letters ("Mon", "Llun").
func (pr *Printer) ShortWeekday(d time.Weekday) string {
	en := d.String()[:3]
	if pr.Lang == Welsh {
		return welshNames[en]
	}
	return en
}
