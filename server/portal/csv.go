package portal

import (
	"encoding/csv"
	"io"
	"strings"
)

// csvWriter writes CSV in which every cell, headers included, is safe to
// open in a spreadsheet: phone-typed text (area names, notes) reaches
// headers and cells, and a cell starting with = + - @ tab or CR would run
// as a formula. Every CSV the portal writes goes through it.
type csvWriter struct{ w *csv.Writer }

func newCSV(out io.Writer) csvWriter { return csvWriter{csv.NewWriter(out)} }

func (c csvWriter) Write(cells []string) error {
	safe := make([]string, len(cells))
	for i, s := range cells {
		safe[i] = csvSafe(s)
	}
	return c.w.Write(safe)
}

func (c csvWriter) Flush() { c.w.Flush() }

// csvSafe stops a spreadsheet from running a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
