package portal

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

func registerReportRoutes(r routes, p *Portal) {
	r.Get("/reports", p.handleReports)
	r.Get("/reports/csv/:name", p.handleReportCSV)
}

// cell is one aggregate. Counts below the configured minimum are suppressed
// everywhere (page, chart, CSV), so no young person can be singled out.
type cell struct {
	N          int
	Suppressed bool
	// Complementary: hidden although not small, because it is the smallest
	// other count in a row or column that has exactly one small count, which
	// a total read from a sibling report would otherwise give away.
	Complementary bool
}

func (c cell) String() string {
	if c.Suppressed {
		return "suppressed"
	}
	return strconv.Itoa(c.N)
}

// Label is what a page, chart or CSV shows for the cell.
func (c cell) Label(min int) string {
	switch {
	case c.Complementary:
		return "*"
	case c.Suppressed:
		return fmt.Sprintf("<%d", min)
	}
	return strconv.Itoa(c.N)
}

// protect suppresses the smallest other non-zero count of a line (row or
// column) that has exactly one suppressed count, and reports whether it did.
func protect(line []*cell) bool {
	var hidden int
	var smallest *cell
	for _, c := range line {
		switch {
		case c.Suppressed:
			hidden++
		case c.N > 0 && (smallest == nil || c.N < smallest.N):
			smallest = c
		}
	}
	if hidden != 1 || smallest == nil {
		return false
	}
	smallest.Suppressed, smallest.Complementary = true, true
	return true
}

// table is one report: rows × columns of cells.
type table struct {
	Name, Title, RowHead string
	Cols                 []string
	Rows                 []string
	Cells                [][]cell
	// RowLabels and ColLabels are Rows and Cols as the reader sees them
	// (vocabulary words translated; weeks, areas and services as they are).
	RowLabels, ColLabels []string
	Chart                template.HTML
	Note                 string
	shown                bool // some count is shown (not zero, not suppressed)
}

func (p *Portal) suppress(n int) cell {
	return cell{N: n, Suppressed: n > 0 && n < p.cfg.MinCount}
}

// makeTable builds one report; rowLabel and colLabel word its rows and
// columns for the reader.
func (p *Portal) makeTable(pr *i18n.Printer, name, title, rowHead string, rows, cols []string, rowLabel, colLabel func(string) string, get func(r, c string) int) table {
	t := table{Name: name, Title: pr.T(title), RowHead: pr.T(rowHead), Rows: rows, Cols: cols}
	for _, r := range rows {
		t.RowLabels = append(t.RowLabels, rowLabel(r))
	}
	for _, c := range cols {
		t.ColLabels = append(t.ColLabels, colLabel(c))
	}
	for _, r := range rows {
		line := make([]cell, len(cols))
		for j, c := range cols {
			line[j] = p.suppress(get(r, c))
		}
		t.Cells = append(t.Cells, line)
	}
	// Complementary suppression, rows and columns, until nothing moves.
	complementary := false
	for moved := true; moved; {
		moved = false
		for i := range t.Cells {
			line := make([]*cell, len(cols))
			for j := range cols {
				line[j] = &t.Cells[i][j]
			}
			moved = protect(line) || moved
		}
		for j := range cols {
			line := make([]*cell, len(t.Cells))
			for i := range t.Cells {
				line[i] = &t.Cells[i][j]
			}
			moved = protect(line) || moved
		}
		complementary = complementary || moved
	}
	shown, hidden := false, false
	for _, line := range t.Cells {
		for _, x := range line {
			shown = shown || !x.Suppressed && x.N > 0
			hidden = hidden || x.Suppressed
		}
	}
	t.shown = shown
	if hidden && !shown {
		t.Note = pr.T("Every count here is below %d and is suppressed; choose a longer period to see more.", p.cfg.MinCount)
	} else if !shown {
		t.Note = pr.T("Nothing was recorded in this period.")
	} else if complementary {
		t.Note = pr.T("Counts below %d are shown as <%d; counts marked * are hidden too, so that a small count cannot be worked out from the others.", p.cfg.MinCount, p.cfg.MinCount)
	}
	t.Chart = p.chart(t)
	return t
}

type reportPeriod struct {
	From, To string
	from, to time.Time
}

func (p *Portal) parsePeriod(c *fiber.Ctx) (reportPeriod, error) {
	rp := reportPeriod{From: c.Query("from"), To: c.Query("to")}
	var err error
	if rp.From != "" {
		if rp.from, err = time.ParseInLocation("2006-01-02", rp.From, p.loc); err != nil {
			return rp, invalid("The 'from' date must look like 2025-10-20.")
		}
	}
	if rp.To != "" {
		if rp.to, err = time.ParseInLocation("2006-01-02", rp.To, p.loc); err != nil {
			return rp, invalid("The 'to' date must look like 2025-10-20.")
		}
		rp.to = rp.to.AddDate(0, 0, 1)
	}
	return rp, nil
}

func (rp reportPeriod) in(t time.Time) bool {
	return !t.IsZero() && (rp.from.IsZero() || !t.Before(rp.from)) && (rp.to.IsZero() || t.Before(rp.to))
}

// weekOf labels the ISO week of t.
func weekOf(t time.Time, loc *time.Location) string {
	y, w := t.In(loc).ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

var acceptanceBuckets = []string{"under 1 day", "1 to 3 days", "3 to 7 days", "over 7 days"}

func acceptanceBucket(d time.Duration) string {
	switch {
	case d < 24*time.Hour:
		return acceptanceBuckets[0]
	case d < 72*time.Hour:
		return acceptanceBuckets[1]
	case d < 7*24*time.Hour:
		return acceptanceBuckets[2]
	}
	return acceptanceBuckets[3]
}

// buildReports computes every report over the records in scope. Only
// counts leave this function: no ids, names or text.
func (p *Portal) buildReports(c *fiber.Ctx, rp reportPeriod) ([]table, error) {
	encs, err := p.recordsInScope(c, syncengine.TypeEncounter)
	if err != nil {
		return nil, err
	}
	contacts := map[string]map[string]int{} // week -> area -> contacts
	byBand, byGender, byTopic := map[string]int{}, map[string]int{}, map[string]int{}
	weeks, areas := map[string]bool{}, map[string]bool{}
	for _, r := range encs {
		st := r.Time("started_at")
		if !rp.in(st) {
			continue
		}
		w, a := weekOf(st, p.loc), str(r, "area")
		weeks[w], areas[a] = true, true
		if contacts[w] == nil {
			contacts[w] = map[string]int{}
		}
		tallies := r.Counts("tallies")
		for k, n := range tallies {
			band, gender, _ := strings.Cut(k, "/")
			contacts[w][a] += int(n)
			byBand[band] += int(n)
			byGender[gender] += int(n)
		}
		for _, t := range r.Set("topics") {
			byTopic[t]++
		}
	}
	pr := p.tr(c)
	asIs := func(s string) string { return s }
	word := pr.Value
	say := func(s string) string { return pr.T(s) }
	weekList, areaList := keys(weeks), keys(areas)
	t1 := p.makeTable(pr, "contacts-by-area", "Contacts per week by area", "Week", weekList, areaList, asIs, asIs, func(w, a string) int { return contacts[w][a] })
	t2 := p.makeTable(pr, "contacts-by-age-band", "Contacts by age band", "Age band", syncengine.AgeBands, []string{"Contacts"}, word, say, func(b, _ string) int { return byBand[b] })
	t3 := p.makeTable(pr, "contacts-by-gender", "Contacts by gender", "Gender", syncengine.Genders, []string{"Contacts"}, word, say, func(g, _ string) int { return byGender[g] })
	topics := slices.Clone(syncengine.Topics)
	sort.SliceStable(topics, func(i, j int) bool { return byTopic[topics[i]] > byTopic[topics[j]] })
	t4 := p.makeTable(pr, "topics", "Topics raised (encounters)", "Topic", topics, []string{"Encounters"}, word, say, func(t, _ string) int { return byTopic[t] })

	refs, err := p.recordsInScope(c, syncengine.TypeReferral)
	if err != nil {
		return nil, err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return nil, err
	}
	bySvc := map[string]map[string]int{}
	svcNames := map[string]bool{}
	accept := map[string]int{}
	var waits []time.Duration
	for _, r := range refs {
		sub := r.Time("submitted_at")
		if !rp.in(sub) {
			continue
		}
		name, st := d.service(str(r, "service_id")), str(r, "status")
		svcNames[name] = true
		if bySvc[name] == nil {
			bySvc[name] = map[string]int{}
		}
		bySvc[name][st]++
		if st == "accepted" {
			if at := r.WrittenAt("status"); !at.IsZero() && at.After(sub) {
				accept[acceptanceBucket(at.Sub(sub))]++
				waits = append(waits, at.Sub(sub))
			}
		}
	}
	outcomes := referralStatuses[1:] // drafts have not been sent to a service
	t5 := p.makeTable(pr, "referrals-by-service", "Referrals by service and outcome", "Service", keys(svcNames), outcomes, asIs, word, func(s, o string) int { return bySvc[s][o] })
	t6 := p.makeTable(pr, "time-to-acceptance", "Time from submission to acceptance", "Waited", acceptanceBuckets, []string{"Referrals"}, say, say, func(b, _ string) int { return accept[b] })
	if len(waits) >= p.cfg.MinCount {
		sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
		t6.Note = pr.T("Median %s over %d accepted referrals.", pr.Duration(waits[len(waits)/2]), len(waits))
	}
	return []table{t1, t2, t3, t4, t5, t6}, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// handleReports serves GET /portal/reports.
func (p *Portal) handleReports(c *fiber.Ctx) error {
	rp, err := p.parsePeriod(c)
	if err != nil {
		return err
	}
	tables, err := p.buildReports(c, rp)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "reports"}); err != nil {
		return err
	}
	q := ""
	if rp.From != "" || rp.To != "" {
		q = "?from=" + rp.From + "&to=" + rp.To
	}
	return p.render(c, "reports", "Reports", map[string]any{"Tables": tables, "Period": rp, "Query": q, "Min": p.cfg.MinCount})
}

// handleReportCSV serves GET /portal/reports/csv/:name: one report as CSV,
// suppressed cells written as "<3".
func (p *Portal) handleReportCSV(c *fiber.Ctx) error {
	rp, err := p.parsePeriod(c)
	if err != nil {
		return err
	}
	tables, err := p.buildReports(c, rp)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(c.Params("name"), ".csv")
	for _, t := range tables {
		if t.Name != name {
			continue
		}
		var buf bytes.Buffer
		w := newCSV(&buf)
		_ = w.Write(append([]string{t.RowHead}, t.ColLabels...))
		for i := range t.Rows {
			line := []string{t.RowLabels[i]}
			for _, x := range t.Cells[i] {
				if x.Suppressed {
					line = append(line, x.Label(p.cfg.MinCount))
				} else {
					line = append(line, strconv.Itoa(x.N))
				}
			}
			_ = w.Write(line)
		}
		w.Flush()
		if err := p.audit(c, domain.ActionExport, "", map[string]any{"kind": "report", "report": t.Name}); err != nil {
			return err
		}
		c.Set("Content-Disposition", `attachment; filename="`+t.Name+`.csv"`)
		c.Type("csv", "utf-8")
		return c.Send(buf.Bytes())
	}
	return errNotFound
}

// chart draws a table as labelled horizontal bars: one group per row of a
// table with several columns (one bar per column), or one bar per row.
// Labels and values are HTML text, so they stay legible at any width; each
// bar is a tiny SVG stretched to its share of the line (attributes, not
// inline styles, which the portal's CSP refuses). Colour is never the only
// cue: every bar is labelled, and the table follows. A table with nothing
// to show (every count zero or suppressed) gets no chart at all.
func (p *Portal) chart(t table) template.HTML {
	if !t.shown {
		return ""
	}
	maxN := 1
	for _, line := range t.Cells {
		for _, x := range line {
			if !x.Suppressed && x.N > maxN {
				maxN = x.N
			}
		}
	}
	var b strings.Builder
	bar := func(label string, x cell, colour int) {
		pct := 0
		if !x.Suppressed {
			pct = x.N * 100 / maxN
		}
		fmt.Fprintf(&b, `<span class="bar-lbl">%s</span><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false"><rect width="%d" height="10" class="c%d"/></svg><span class="bar-val">%s</span>`,
			html.EscapeString(label), pct, colour%6, html.EscapeString(x.Label(p.cfg.MinCount)))
	}
	fmt.Fprintf(&b, `<div class="bars" role="img" aria-label="%s">`, html.EscapeString(t.Title))
	for i, r := range t.RowLabels {
		if len(t.Cols) == 1 {
			bar(r, t.Cells[i][0], 0)
			continue
		}
		fmt.Fprintf(&b, `<span class="bar-group">%s</span>`, html.EscapeString(r))
		for j, col := range t.ColLabels {
			bar(col, t.Cells[i][j], j)
		}
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String()) // every text above is escaped
}
