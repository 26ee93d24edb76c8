package portal

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerEncounterRoutes(r routes, p *Portal) {
	r.Get("/encounters", p.handleEncounterList)
	r.Get("/encounters/:id", p.handleEncounterDetail)
	r.Post("/encounters/bulk-signoff", p.handleEncounterBulkSignOff)
	r.Post("/encounters/:id/signoff", p.handleEncounterSignOff)
	r.Post("/encounters/:id/resolve", p.handleEncounterResolve)
	r.Post("/encounters/:id/undelete", p.handleEncounterUndelete)
}

// encounterFilter is the list's query, parsed and validated once.
type encounterFilter struct {
	Area, Worker, Concern, Status string
	From, To                      string
	from, to                      time.Time
	Deleted                       bool
	Sort                          string // newest (""), oldest, concern
	SelectAll                     bool   // pre-tick every row that can be signed off
}

func (p *Portal) parseEncounterFilter(c *fiber.Ctx) (encounterFilter, error) {
	f := encounterFilter{Area: c.Query("area"), Worker: c.Query("worker"), Concern: c.Query("concern"), Status: c.Query("status"),
		From: c.Query("from"), To: c.Query("to"), Deleted: c.Query("deleted") == "1", Sort: c.Query("sort"), SelectAll: c.Query("select") == "all"}
	switch f.Sort {
	case "", "newest", "oldest", "concern":
	default:
		return f, invalid("Unknown sort order.")
	}
	var err error
	if f.From != "" {
		if f.from, err = time.ParseInLocation("2006-01-02", f.From, p.loc); err != nil {
			return f, invalid("The 'from' date must look like 2025-10-20.")
		}
	}
	if f.To != "" {
		if f.to, err = time.ParseInLocation("2006-01-02", f.To, p.loc); err != nil {
			return f, invalid("The 'to' date must look like 2025-10-20.")
		}
		f.to = f.to.AddDate(0, 0, 1)
	}
	switch f.Concern {
	case "", "any", "yes", "no", "high":
	default:
		return f, invalid("Unknown concern filter.")
	}
	switch f.Status {
	case "", "awaiting_review", "signed_off":
	default:
		return f, invalid("Unknown review status.")
	}
	return f, nil
}

func (f encounterFilter) match(r *syncengine.Record) bool {
	if f.Area != "" && str(r, "area") != f.Area {
		return false
	}
	if f.Worker != "" {
		found := false
		for _, w := range r.Set("workers") {
			found = found || w == f.Worker
		}
		if !found {
			return false
		}
	}
	st := r.Time("started_at")
	if !f.from.IsZero() && st.Before(f.from) || !f.to.IsZero() && !st.Before(f.to) {
		return false
	}
	level := domain.ConcernLevel(r)
	concern := level != ""
	switch f.Concern {
	case "yes":
		if !concern {
			return false
		}
	case "no":
		if concern {
			return false
		}
	case "high":
		if !domain.ConcernAlerting(level) {
			return false
		}
	}
	switch signed := str(r, "review_status") == "signed_off"; f.Status {
	case "signed_off":
		if !signed {
			return false
		}
	case "awaiting_review": // unset counts as not yet reviewed
		if signed {
			return false
		}
	}
	return true
}

// handleEncounterList serves GET /portal/encounters.
func (p *Portal) handleEncounterList(c *fiber.Ctx) error {
	f, err := p.parseEncounterFilter(c)
	if err != nil {
		return err
	}
	s := sess(c)
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	teams, ok := teamIDs(s.Scope)
	var recs []*syncengine.Record
	if ok {
		if recs, err = p.store.Records(c.UserContext(), domain.RecordFilter{Type: syncengine.TypeEncounter, TeamIDs: teams}); err != nil {
			return err
		}
	}
	names, err := p.youngPeopleNames(c)
	if err != nil {
		return err
	}
	// Filter and sort on what the order needs; only the page's rows are
	// built in full (at 10x the demo, building all of them was most of
	// the page's time).
	type match struct {
		r       *syncengine.Record
		started time.Time
		rank    int
	}
	areas := map[string]bool{}
	var matched []match
	for _, r := range recs {
		if r.Type == "" || r.Erased != nil || r.Deleted() != f.Deleted {
			continue
		}
		areas[str(r, "area")] = true
		if f.match(r) {
			matched = append(matched, match{r, r.Time("started_at"), concernRank(domain.ConcernLevel(r))})
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		a, b := matched[i], matched[j]
		switch f.Sort {
		case "oldest":
			return a.started.Before(b.started)
		case "concern":
			if a.rank != b.rank {
				return a.rank > b.rank
			}
		}
		return a.started.After(b.started)
	})
	pg, err := parsePage(c, len(matched))
	if err != nil {
		return err
	}
	rows := make([]encounter, 0, pg.shown())
	for _, m := range matched[pg.From:pg.To] {
		rows = append(rows, toEncounter(m.r, d, names))
	}
	signable := 0
	for _, e := range rows {
		if e.Signable() {
			signable++
		}
	}
	areaList := make([]string, 0, len(areas))
	for a := range areas {
		areaList = append(areaList, a)
	}
	sort.Strings(areaList)
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "encounters", "shown": len(rows)}); err != nil {
		return err
	}
	canSign := s.Scope.All || s.Person.Role == domain.RoleSupervisor
	return p.render(c, "encounters", "Encounters", map[string]any{"Rows": rows, "Total": pg.Total, "Page": pg, "Filter": f,
		"Areas": areaList, "Workers": d.workersIn(s.Scope), "Signable": signable, "CanSign": canSign && signable > 0,
		"SelectAllLink": selectAllLink(c)})
}

// selectAllLink is this list with every row that can be signed off ticked.
func selectAllLink(c *fiber.Ctx) string {
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	q.Set("select", "all")
	return c.Path() + "?" + q.Encode()
}

// Signable reports whether a row may be signed off from the list: awaiting
// review, nothing to resolve first. (Who may sign off is Authorize's, per record.)
func (e encounter) Signable() bool {
	return e.ReviewStatus != "signed_off" && e.Conflicts == 0 && !e.Deleted
}

// maxBulkSignOff bounds one bulk sign-off (one changeset, one transaction).
const maxBulkSignOff = 200

// handleEncounterBulkSignOff serves POST /portal/encounters/bulk-signoff:
// the ticked encounters are signed off with one comment, in one changeset.
// Each is authorised on its own (domain.Authorize via teamRecord); one the
// supervisor may not sign off fails the whole request, so nothing is signed
// off half-way. Already signed-off ones are skipped; one in conflict or
// deleted is refused with its reason.
func (p *Portal) handleEncounterBulkSignOff(c *fiber.Ctx) error {
	var ids []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == "id" {
			ids = append(ids, string(v))
		}
	})
	comment := strings.TrimSpace(c.FormValue("comment"))
	if len(ids) == 0 {
		return invalid("Tick the encounters to sign off.")
	}
	if len(ids) > maxBulkSignOff {
		return invalid("Sign off at most %d encounters at a time.", maxBulkSignOff)
	}
	if utf8.RuneCountInString(comment) > 2000 {
		return invalid("The comment is too long (2,000 characters at most).")
	}
	var todo []*syncengine.Record
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r, err := p.teamRecord(c, syncengine.TypeEncounter, id, domain.VerbSignOff)
		if err != nil {
			return err
		}
		switch {
		case str(r, "review_status") == "signed_off":
			continue
		case len(r.Conflicts()) > 0 || r.Deleted():
			return invalid("An encounter you ticked (%s, %s) has conflicting fields or was deleted: open it and settle that first.",
				str(r, "area"), r.Time("started_at").In(p.loc).Format("2 Jan 15:04"))
		}
		todo = append(todo, r)
	}
	if len(todo) > 0 {
		me := sess(c).Person.ID
		err := p.edit(c, func(tx *syncengine.Txn) error {
			for _, r := range todo {
				if err := signOff(tx, r.ID, me, comment); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return p.redirect(c, fmt.Sprintf("/encounters?status=awaiting_review&sort=oldest&done=signed-off-%d", len(todo)))
}

func signOff(tx *syncengine.Txn, id syncengine.RecordID, by, comment string) error {
	if err := tx.Set(id, "review_status", "signed_off"); err != nil {
		return err
	}
	if comment != "" {
		if err := tx.Set(id, "review_comment", comment); err != nil {
			return err
		}
	}
	return tx.Set(id, "signed_off_by", by)
}

// nextAwaiting is the oldest encounter in scope still awaiting review, other
// than skip ("" when there is none): where "next" goes after an action.
func (p *Portal) nextAwaiting(c *fiber.Ctx, skip syncengine.RecordID) (string, error) {
	encs, err := p.recordsInScope(c, syncengine.TypeEncounter)
	if err != nil {
		return "", err
	}
	var best *syncengine.Record
	for _, r := range encs {
		if r.ID == skip || str(r, "review_status") == "signed_off" || len(r.Conflicts()) > 0 {
			continue
		}
		if best == nil || r.Time("started_at").Before(best.Time("started_at")) {
			best = r
		}
	}
	if best == nil {
		return "", nil
	}
	return string(best.ID), nil
}

// authorRun is a stretch of narrative with who wrote it.
type authorRun struct {
	Author string
	Class  string
	Text   string
}

// conflictValue is one side of a conflicting field.
type conflictValue struct {
	ID, Value, Author string
	At                time.Time
}

type conflictRow struct {
	Field  string
	Values []conflictValue
}

// narrative turns View.Authors runs into named runs, each author with a
// stable colour class.
func narrative(v syncengine.View, field string, d *directory, classes map[string]string) []authorRun {
	var out []authorRun
	for _, run := range v.Authors[field] {
		cls, ok := classes[run.Author]
		if !ok {
			cls = fmt.Sprintf("a%d", len(classes)%6)
			classes[run.Author] = cls
		}
		out = append(out, authorRun{Author: d.person(run.Author), Class: cls, Text: run.Text})
	}
	return out
}

// displayValue shows a raw JSON register value to a person.
func displayValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var t time.Time
	if json.Unmarshal(raw, &t) == nil {
		return t.Format("2 Jan 2006 15:04")
	}
	return string(raw)
}

func conflictRows(v syncengine.View, d *directory) []conflictRow {
	var out []conflictRow
	for _, cf := range v.Conflicts {
		row := conflictRow{Field: cf.Field}
		for _, x := range cf.Values {
			row.Values = append(row.Values, conflictValue{ID: x.ID, Value: displayValue(x.Value), Author: d.person(x.Author), At: x.At})
		}
		out = append(out, row)
	}
	return out
}

// handleEncounterDetail serves GET /portal/encounters/:id.
func (p *Portal) handleEncounterDetail(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeEncounter, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	names, err := p.youngPeopleNames(c)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, string(r.ID), map[string]any{"type": r.Type}); err != nil {
		return err
	}
	v := r.View(nil)
	classes := map[string]string{}
	note := narrative(v, "note", d, classes)
	actions := narrative(v, "actions", d, classes)
	type legend struct{ Name, Class string }
	var leg []legend
	for id, cls := range classes {
		leg = append(leg, legend{d.person(id), cls})
	}
	sort.Slice(leg, func(i, j int) bool { return leg[i].Class < leg[j].Class })
	type ypLink struct{ ID, Name string }
	var yps []ypLink
	for _, y := range r.Set("young_people") {
		if n, ok := names[y]; ok {
			yps = append(yps, ypLink{y, n})
		}
	}
	var tallies []string
	for k, n := range r.Counts("tallies") {
		band, gender, _ := strings.Cut(k, "/")
		tallies = append(tallies, fmt.Sprintf("%s %s: %d", p.tr(c).Value(band), p.tr(c).Value(gender), n))
	}
	sort.Strings(tallies)
	e := toEncounter(r, d, names)
	alerts, err := p.store.ConcernAlerts(c.UserContext(), domain.ConcernAlertFilter{EncounterID: string(r.ID)})
	if err != nil {
		return err
	}
	alertOpen := false
	for i := range alerts {
		alertOpen = alertOpen || alerts[i].Open()
		alerts[i].AckedBy = d.person(alerts[i].AckedBy)
	}
	canAck := false
	if alertOpen { // offered by where the server filed the encounter, as the POST authorises it
		_, filed, err := p.store.FiledRecord(c.UserContext(), string(r.ID))
		if err != nil {
			return err
		}
		canAck = domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbAcknowledge},
			domain.Target{Type: r.Type, Team: filed.Team, Service: filed.Service, Exists: true}) == nil
	}
	return p.render(c, "encounter", "Encounter %s", map[string]any{
		"E": e, "Alerts": alerts, "AlertOpen": alertOpen, "CanAcknowledge": alertOpen && canAck, "Deleted": r.Deleted(), "Note": note, "Actions": actions, "Legend": leg, "Conflicts": conflictRows(v, d),
		"YoungPeople": yps, "Tallies": tallies, "CanSignOff": e.ReviewStatus != "signed_off" && len(v.Conflicts) == 0 && !r.Deleted(),
	}, p.tr(c).Time(e.Started.In(p.loc), "2 Jan 15:04"))
}

// handleEncounterSignOff serves POST /portal/encounters/:id/signoff.
func (p *Portal) handleEncounterSignOff(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeEncounter, c.Params("id"), domain.VerbSignOff)
	if err != nil {
		return err
	}
	if len(r.Conflicts()) > 0 {
		return invalid("Resolve the conflicting fields before signing this encounter off.")
	}
	if str(r, "review_status") == "signed_off" {
		return p.redirect(c, "/encounters/"+string(r.ID)+"?done=already-signed-off")
	}
	comment := strings.TrimSpace(c.FormValue("comment"))
	if utf8.RuneCountInString(comment) > 2000 {
		return invalid("The comment is too long (2,000 characters at most).")
	}
	if err = p.edit(c, func(tx *syncengine.Txn) error { return signOff(tx, r.ID, sess(c).Person.ID, comment) }); err != nil {
		return err
	}
	// Straight on to the next one awaiting review, so a pile is a run of
	// single clicks, not a trip back to the list each time.
	if next, err := p.nextAwaiting(c, r.ID); err != nil {
		return err
	} else if next != "" && c.FormValue("next") == "1" {
		return p.redirect(c, "/encounters/"+next+"?done=signed-off")
	}
	return p.redirect(c, "/encounters/"+string(r.ID)+"?done=signed-off")
}

// handleEncounterResolve serves POST /portal/encounters/:id/resolve: the
// chosen value is written again by the server replica, superseding every
// competing value it has seen.
func (p *Portal) handleEncounterResolve(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeEncounter, c.Params("id"), domain.VerbResolve)
	if err != nil {
		return err
	}
	if err := p.resolveConflict(c, r, c.FormValue("field"), c.FormValue("value")); err != nil {
		return err
	}
	return p.redirect(c, "/encounters/"+string(r.ID)+"?done=resolved")
}

func (p *Portal) resolveConflict(c *fiber.Ctx, r *syncengine.Record, field, valueID string) error {
	for _, cf := range r.Conflicts() {
		if cf.Field != field || field == syncengine.DeletedField {
			continue
		}
		for _, v := range cf.Values {
			if v.ID.String() == valueID {
				return p.edit(c, func(tx *syncengine.Txn) error { return tx.SetJSON(r.ID, field, v.Value) })
			}
		}
	}
	return refusal(domain.ECONFLICT, "That value is no longer in conflict (someone may have resolved it already). Reload the page to see the current values.")
}

// handleEncounterUndelete serves POST /portal/encounters/:id/undelete (a supervisor's undo).
func (p *Portal) handleEncounterUndelete(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeEncounter, c.Params("id"), domain.VerbUndelete)
	if err != nil {
		return err
	}
	if !r.Deleted() {
		return p.redirect(c, "/encounters/"+string(r.ID))
	}
	if err := p.edit(c, func(tx *syncengine.Txn) error { return tx.Undelete(r.ID) }); err != nil {
		return err
	}
	return p.redirect(c, "/encounters/"+string(r.ID)+"?done=restored")
}
