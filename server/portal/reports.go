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
	Chart                template.HTML
	Note                 string
}

func (p *Portal) suppress(n int) cell {
	return cell{N: n, Suppressed: n > 0 && n < p.cfg.MinCount}
}

func (p *Portal) makeTable(name, title, rowHead string, rows, cols []string, get func(r, c string) int) table {
	t := table{Name: name, Title: title, RowHead: rowHead, Rows: rows, Cols: cols}
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
	if hidden && !shown {
		t.Note = fmt.Sprintf("Every count here is below %d and is suppressed; choose a longer period to see more.", p.cfg.MinCount)
	} else if complementary {
		t.Note = fmt.Sprintf("Counts below %d are shown as <%d; counts marked * are hidden too, so that a small count cannot be worked out from the others.", p.cfg.MinCount, p.cfg.MinCount)
	}
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
	weekList, areaList := keys(weeks), keys(areas)
	t1 := p.makeTable("contacts-by-area", "Contacts per week by area", "Week", weekList, areaList, func(w, a string) int { return contacts[w][a] })
	t1.Chart = p.groupedChart(t1)
	t2 := p.makeTable("contacts-by-age-band", "Contacts by age band", "Age band", syncengine.AgeBands, []string{"Contacts"}, func(b, _ string) int { return byBand[b] })
	t2.Chart = p.barChart(t2)
	t3 := p.makeTable("contacts-by-gender", "Contacts by gender", "Gender", syncengine.Genders, []string{"Contacts"}, func(g, _ string) int { return byGender[g] })
	t3.Chart = p.barChart(t3)
	topics := slices.Clone(syncengine.Topics)
	sort.SliceStable(topics, func(i, j int) bool { return byTopic[topics[i]] > byTopic[topics[j]] })
	t4 := p.makeTable("topics", "Topics raised (encounters)", "Topic", topics, []string{"Encounters"}, func(t, _ string) int { return byTopic[t] })
	t4.Chart = p.barChart(t4)

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
	t5 := p.makeTable("referrals-by-service", "Referrals by service and outcome", "Service", keys(svcNames), outcomes, func(s, o string) int { return bySvc[s][o] })
	t5.Chart = p.groupedChart(t5)
	t6 := p.makeTable("time-to-acceptance", "Time from submission to acceptance", "Waited", acceptanceBuckets, []string{"Referrals"}, func(b, _ string) int { return accept[b] })
	t6.Chart = p.barChart(t6)
	if len(waits) >= p.cfg.MinCount {
		sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
		t6.Note = fmt.Sprintf("Median %s over %d accepted referrals.", humanDuration(waits[len(waits)/2]), len(waits))
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
		_ = w.Write(append([]string{t.RowHead}, t.Cols...))
		for i, r := range t.Rows {
			line := []string{r}
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

// Chart palette: distinguishable, and never the only cue (tables follow every chart).
var palette = []string{"#1f6f8b", "#e07a1f", "#3a9a5b", "#8a4fb0", "#c23b4e", "#6b7a8f"}

// barChart draws a one-column table as horizontal bars.
func (p *Portal) barChart(t table) template.HTML {
	const w, labelW, barH, gap = 560, 150, 20, 6
	maxN := 1
	for _, line := range t.Cells {
		if !line[0].Suppressed && line[0].N > maxN {
			maxN = line[0].N
		}
	}
	h := len(t.Rows)*(barH+gap) + gap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" class="chart" role="img" aria-labelledby="c-%s"><title id="c-%s">%s</title>`,
		w, h, w, h, t.Name, t.Name, html.EscapeString(t.Title))
	for i, r := range t.Rows {
		x := t.Cells[i][0]
		y := gap + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-8, y+barH-5, html.EscapeString(strings.ReplaceAll(r, "_", " ")))
		bw := 0
		if !x.Suppressed {
			bw = x.N * (w - labelW - 60) / maxN
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, labelW, y, bw, barH, palette[0])
		label := x.Label(p.cfg.MinCount)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="val">%s</text>`, labelW+bw+6, y+barH-5, html.EscapeString(label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text node above is escaped
}

// groupedChart draws a table as groups of vertical bars (one group per row,
// one colour per column) with a legend.
func (p *Portal) groupedChart(t table) template.HTML {
	const h, top, bottom, left = 260, 30, 40, 40
	ncol := max(len(t.Cols), 1)
	group := max(ncol*14+16, 72)
	w := left + max(len(t.Rows), 1)*group + 20
	legendW := left
	for _, col := range t.Cols {
		legendW += 14 + 7*len(col) + 14
	}
	w = max(w, 420, legendW+10)
	maxN := 1
	for _, line := range t.Cells {
		for _, x := range line {
			if !x.Suppressed && x.N > maxN {
				maxN = x.N
			}
		}
	}
	plot := h - top - bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" class="chart" role="img" aria-labelledby="c-%s"><title id="c-%s">%s</title>`,
		w, h, w, h, t.Name, t.Name, html.EscapeString(t.Title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="val">%d</text>`, left-4, top+10, maxN)
	for i, r := range t.Rows {
		gx := left + i*group + 8
		for j, x := range t.Cells[i] {
			bh := 0
			if !x.Suppressed {
				bh = x.N * plot / maxN
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="%d" fill="%s"><title>%s, %s: %s</title></rect>`,
				gx+j*14, h-bottom-bh, bh, palette[j%len(palette)], html.EscapeString(r), html.EscapeString(t.Cols[j]), html.EscapeString(x.String()))
		}
		label := []rune(r)
		if fit := group / 7; len(label) > fit {
			label = append(label[:fit-1], '…')
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl small">%s</text>`, gx, h-bottom+16, html.EscapeString(string(label)))
	}
	lx := left
	for j, col := range t.Cols {
		fmt.Fprintf(&b, `<rect x="%d" y="6" width="10" height="10" fill="%s"/><text x="%d" y="15" class="lbl small">%s</text>`,
			lx, palette[j%len(palette)], lx+14, html.EscapeString(col))
		lx += 14 + 7*len(col) + 14
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text node above is escaped
}
