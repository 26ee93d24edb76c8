package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
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

func registerYoungPersonRoutes(r routes, p *Portal) {
	r.Get("/young-people", p.handleYoungPeopleList)
	r.Get("/young-people/:id", p.handleChronology)
	r.Get("/young-people/:id/export", p.handleSubjectAccessExport)
	r.Post("/young-people/:id/erase", p.handleErase)
}

type ypRow struct {
	ID, KnownAs, AgeBand, Gender, Area, Team, KeyWorker string
	Hold                                                bool
	Duplicate                                           bool // a likely duplicate of another profile
}

// handleYoungPeopleList serves GET /portal/young-people.
func (p *Portal) handleYoungPeopleList(c *fiber.Ctx) error {
	recs, err := p.listedYoungPeople(c)
	if err != nil {
		return err
	}
	dups, pairs, err := p.duplicateIDs(c)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(c.Query("q")))
	hold, order, dupOnly := c.Query("hold"), c.Query("sort"), c.Query("duplicates")
	if hold != "" && hold != "1" || dupOnly != "" && dupOnly != "1" || order != "" && order != "area" && order != "team" {
		return invalid("Unknown filter or order.")
	}
	var rows []ypRow
	for _, r := range recs {
		if q != "" && !strings.Contains(strings.ToLower(str(r, "known_as")), q) {
			continue
		}
		if hold == "1" && !r.Bool("safeguarding_hold") || dupOnly == "1" && !dups[string(r.ID)] {
			continue
		}
		row := toYPRow(r, d)
		row.Duplicate = dups[string(r.ID)]
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		switch {
		case order == "area" && rows[i].Area != rows[j].Area:
			return rows[i].Area < rows[j].Area
		case order == "team" && rows[i].Team != rows[j].Team:
			return rows[i].Team < rows[j].Team
		}
		return rows[i].KnownAs < rows[j].KnownAs
	})
	pg, err := parsePage(c, len(rows))
	if err != nil {
		return err
	}
	rows = rows[pg.From:pg.To]
	shown := make([]string, len(rows))
	for i, r := range rows {
		shown[i] = r.ID
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "young-people", "shown": len(rows), "records": shown}); err != nil {
		return err
	}
	return p.render(c, "youngpeople", "Young people", map[string]any{"Rows": rows, "Q": c.Query("q"), "Hold": hold, "Sort": order, "Page": pg,
		"Duplicates": dupOnly, "Pairs": len(pairs)})
}

// event is one line of a chronology.
type event struct {
	At      time.Time
	Kind    string // encounter | referral | follow_up
	ID      string
	Title   string
	Detail  string
	Link    string
	Concern bool
}

// aboutYoungPerson gathers every live record about a young person that the
// signed-in person may see: encounters naming them, referrals and follow-ups.
// Profiles merged into this one count as this one: a phone offline during
// the merge may still push records naming them.
func (p *Portal) aboutYoungPerson(c *fiber.Ctx, id string) (encs, refs, fus []*syncengine.Record, err error) {
	merged, err := p.mergedInto(c, id)
	if err != nil {
		return nil, nil, nil, err
	}
	ids := append([]string{id}, merged...)
	all, err := p.recordsInScope(c, syncengine.TypeEncounter)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, r := range all {
		for _, y := range r.Set("young_people") {
			if slices.Contains(ids, y) {
				encs = append(encs, r)
				break
			}
		}
	}
	teams, _ := teamIDs(sess(c).Scope)
	for _, typ := range []string{syncengine.TypeReferral, syncengine.TypeFollowUp} {
		for _, yp := range ids {
			rs, err := p.store.Records(c.UserContext(), domain.RecordFilter{Type: typ, YoungPersonID: yp, TeamIDs: teams})
			if err != nil {
				return nil, nil, nil, err
			}
			for _, r := range rs {
				if !live(r) {
					continue
				}
				if typ == syncengine.TypeReferral {
					refs = append(refs, r)
				} else {
					fus = append(fus, r)
				}
			}
		}
	}
	return encs, refs, fus, nil
}

// handleChronology serves GET /portal/young-people/:id: everything recorded
// about one young person in time order, the context for safeguarding.
func (p *Portal) handleChronology(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, string(yp.ID), map[string]any{"type": yp.Type, "page": "chronology"}); err != nil {
		return err
	}
	if yp.Erased != nil {
		return p.render(c, "chronology", "Erased record", map[string]any{"Erased": yp.Erased, "ErasedBy": d.person(yp.Erased.By)})
	}
	if domain.MergedInto(yp) != "" {
		to, err := p.keptProfile(c, yp)
		if err != nil {
			return err
		}
		return p.render(c, "chronology", "%s", map[string]any{"MergedInto": to, "YP": toYPRow(yp, d),
			"MergedAt": yp.WrittenAt("merged_into"), "MergedBy": d.person(yp.Author("merged_into"))}, str(yp, "known_as"))
	}
	encs, refs, fus, err := p.aboutYoungPerson(c, string(yp.ID))
	if err != nil {
		return err
	}
	pr := p.tr(c)
	dups, err := p.possibleDuplicates(c, yp, d)
	if err != nil {
		return err
	}
	var choices []ypRow
	if domain.Authorize(domain.ActorOf(sess(c).Scope, nil), domain.Action{Verb: domain.VerbMerge},
		domain.Target{Type: yp.Type, Team: str(yp, "team_id"), Exists: true}) == nil {
		if choices, err = p.mergeChoices(c, yp); err != nil {
			return err
		}
	}
	var evs []event
	for _, r := range encs {
		e := event{At: r.Time("started_at"), Kind: "encounter", ID: string(r.ID), Link: "/encounters/" + string(r.ID),
			Title: pr.T("Encounter in %s", str(r, "area")), Concern: domain.ConcernLevel(r) != ""}
		var w []string
		for _, x := range r.Set("workers") {
			w = append(w, d.person(x))
		}
		topics := make([]string, 0, len(r.Set("topics")))
		for _, t := range r.Set("topics") {
			topics = append(topics, pr.Value(t))
		}
		e.Detail = pr.T("With %s.", strings.Join(w, ", "))
		if len(topics) > 0 {
			e.Detail += " " + pr.T("Topics: %s.", strings.Join(topics, ", "))
		}
		if e.Concern {
			e.Detail += " " + pr.T("Concern: %s.", pr.Value(domain.ConcernLevel(r)))
		}
		evs = append(evs, e)
	}
	for _, r := range refs {
		at := r.Time("submitted_at")
		if at.IsZero() {
			at = r.Created.Time()
		}
		evs = append(evs, event{At: at, Kind: "referral", ID: string(r.ID), Link: "/referrals/" + string(r.ID),
			Title:  pr.T("Referral to %s", d.service(str(r, "service_id"))),
			Detail: pr.T("Status: %s. Urgency: %s. Consent: %s.", pr.Value(str(r, "status")), pr.Value(str(r, "urgency")), pr.Value(str(r, "consent")))})
		if st := str(r, "status"); st != "submitted" && st != "draft" {
			evs = append(evs, event{At: r.WrittenAt("status"), Kind: "referral", ID: string(r.ID), Link: "/referrals/" + string(r.ID),
				Title:  pr.T("Referral to %s: %s by %s", d.service(str(r, "service_id")), pr.Value(st), referralDecision(r, d).By),
				Detail: strings.TrimSpace(str(r, "outcome") + " " + str(r, "decline_reason") + " " + str(r, "withdraw_reason"))})
		}
	}
	for _, r := range fus {
		evs = append(evs, event{At: r.Time("due_at"), Kind: "follow_up", ID: string(r.ID),
			Title:  followUpTitle(pr, str(r, "kind"), str(r, "status")),
			Detail: strings.TrimSpace(pr.T("Assigned to %s.", d.person(str(r, "assignee"))) + " " + str(r, "note"))})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	transfers, err := p.transferRows(c, d, domain.TransferFilter{YoungPersonID: string(yp.ID)})
	if err != nil {
		return err
	}
	return p.render(c, "chronology", "%s", map[string]any{
		"Transfers": transfers, "TransferTeams": transferTeams(d, str(yp, "team_id")),
		"YP": ypRow{ID: string(yp.ID), KnownAs: str(yp, "known_as"), AgeBand: str(yp, "age_band"), Gender: str(yp, "gender"), Area: str(yp, "area"),
			Team: d.team(str(yp, "team_id")), KeyWorker: d.person(str(yp, "key_worker")), Hold: yp.Bool("safeguarding_hold")},
		"Wants": str(yp, "wants"), "Events": evs, "Counts": []int{len(encs), len(refs), len(fus)}, "Duplicates": dups, "MergeChoices": choices,
	}, str(yp, "known_as"))
}

// handleSubjectAccessExport serves GET /portal/young-people/:id/export?format=json|csv:
// every record about the young person, as a download.
func (p *Portal) handleSubjectAccessExport(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	if yp.Erased != nil {
		return refusal(domain.EERASED, "This record was erased; there is nothing left to export.")
	}
	format := c.Query("format", "json")
	if format != "json" && format != "csv" {
		return invalid("Export format must be json or csv.")
	}
	encs, refs, fus, err := p.aboutYoungPerson(c, string(yp.ID))
	if err != nil {
		return err
	}
	all := append(append(append([]*syncengine.Record{yp}, encs...), refs...), fus...)
	// Who received or opened these records, and every sharing decision about
	// the referrals: the young person has a right to both.
	ids, err := p.store.YoungPersonRecords(c.UserContext(), string(yp.ID))
	if err != nil {
		return err
	}
	access, err := p.store.AccessHistory(c.UserContext(), ids)
	if err != nil {
		return err
	}
	var sharing []domain.SharingDecision
	for _, r := range refs {
		ds, err := p.store.SharingDecisions(c.UserContext(), string(r.ID))
		if err != nil {
			return err
		}
		sharing = append(sharing, ds...)
	}
	if sharing == nil {
		sharing = []domain.SharingDecision{}
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionExport, string(yp.ID), map[string]any{"kind": "subject_access", "format": format, "records": len(all)}); err != nil {
		return err
	}
	name := fmt.Sprintf("subject-access-%s-%s.%s", yp.ID, p.now().Format("20060102"), format)
	c.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "json" {
		views := make([]syncengine.View, len(all))
		for i, r := range all {
			views[i] = r.View(nil)
		}
		type accessOut struct {
			domain.Access
			Person string `json:"person"`
		}
		acc := make([]accessOut, len(access))
		for i, a := range access {
			acc[i] = accessOut{a, d.person(a.PersonID)}
		}
		b, err := json.MarshalIndent(map[string]any{"young_person_id": yp.ID, "exported_at": p.now(), "records": views,
			"access_history": acc, "sharing_decisions": sharing}, "", "  ")
		if err != nil {
			return err
		}
		c.Type("json", "utf-8")
		return c.Send(b)
	}
	var buf bytes.Buffer
	w := newCSV(&buf)
	_ = w.Write([]string{"record_type", "record_id", "field", "value"})
	for _, r := range all {
		v := r.View(nil)
		fields := make([]string, 0, len(v.Values))
		for f := range v.Values {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			_ = w.Write([]string{r.Type, string(r.ID), f, displayValue(v.Values[f])})
		}
	}
	for _, a := range access {
		_ = w.Write([]string{"access", strconv.FormatInt(a.AuditID, 10), a.How, csvSafe(fmt.Sprintf("%s %s %s %s",
			a.At.Format(time.RFC3339), d.person(a.PersonID), a.DeviceID, strings.Join(a.Records, " ")))})
	}
	for _, sd := range sharing {
		_ = w.Write([]string{"sharing_decision", sd.ReferralID, sd.Decision, csvSafe(fmt.Sprintf("%s by %s: %s",
			sd.At.Format(time.RFC3339), d.person(sd.DecidedBy), sd.Justification))})
	}
	w.Flush()
	c.Type("csv", "utf-8")
	return c.Send(buf.Bytes())
}

// handleErase serves POST /portal/young-people/:id/erase: a lawful erasure
// of the young person's profile and the referrals and follow-ups about them,
// and the redaction of the encounters the supervisor chose on the erase page
// (their link and the named words), in one changeset that reaches every copy
// (sqlite.Erase). It needs a reason and is refused under a safeguarding hold.
func (p *Portal) handleErase(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbErase)
	if err != nil {
		return err
	}
	if yp.Erased != nil {
		return p.redirect(c, "/young-people/"+string(yp.ID))
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if len(reason) < 10 {
		return invalid("Give the reason for the erasure (at least 10 characters): it is kept for ever in place of the record.")
	}
	if len(reason) > 1000 {
		return invalid("The reason is too long (1,000 characters at most).")
	}
	if c.FormValue("confirm") != string(yp.ID) {
		return invalid("Type the record id to confirm the erasure.")
	}
	if yp.Bool("safeguarding_hold") {
		return refusal(domain.ECONFLICT, "Erasure refused: a safeguarding hold applies to this young person. The hold must be lifted first.")
	}
	encs, refs, fus, err := p.aboutYoungPerson(c, string(yp.ID))
	if err != nil {
		return err
	}
	req := domain.ErasureRequest{By: sess(c).Person.ID, YoungPersonID: string(yp.ID), Reason: reason, Kind: domain.ErasureByRequest}
	for _, r := range append(append([]*syncengine.Record{yp}, refs...), fus...) {
		req.Erase = append(req.Erase, string(r.ID))
	}
	// The encounters the supervisor chose on the erase page (only ones in
	// scope that name this young person: a forged id is ignored).
	words := splitWords(c.FormValue("words"))
	for _, raw := range c.Request().PostArgs().PeekMulti("redact") {
		for _, e := range encs {
			if string(e.ID) == string(raw) {
				req.Redact = append(req.Redact, domain.Redaction{EncounterID: string(e.ID), Unlink: string(yp.ID), Words: words})
			}
		}
	}
	res, err := p.store.Erase(c.UserContext(), req)
	if err != nil {
		return err
	}
	if p.changed != nil && len(res.Touched) > 0 {
		p.changed(res.Touched)
	}
	return p.redirect(c, "/young-people/"+string(yp.ID)+"?done=erased")
}

// followUpTitle is a follow-up's line in a chronology: "Follow-up due
// (call back), open", without empty brackets when it has no kind.
func followUpTitle(pr *i18n.Printer, kind, status string) string {
	if kind == "" {
		return pr.T("Follow-up due, %s", pr.Value(status))
	}
	return pr.T("Follow-up due (%s), %s", pr.Value(kind), pr.Value(status))
}
