package portal

import (
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

// The case summary: a printable chronology of one young person, for a case
// conference or a handover: what was said and agreed at each encounter,
// referrals and what came of them, follow-ups, in local time and plain
// words, without the page's action forms.

func registerCaseSummaryRoutes(r routes, p *Portal) {
	r.Get("/young-people/:id/summary", p.handleCaseSummary)
}

// plainWords are the vocabularies' values as a summary says them.
var plainWords = map[string]string{
	// topics
	"relationships": "relationships", "sexual_health": "sexual health", "mental_health": "mental health",
	"substance_use": "drugs and alcohol", "housing": "housing", "education": "education", "employment": "work",
	"family": "family", "offending": "offending", "exploitation": "exploitation", "bullying": "bullying",
	"online_safety": "online safety", "physical_health": "physical health", "money": "money",
	// referral statuses, urgency, consent
	"draft": "draft", "submitted": "sent", "accepted": "accepted", "declined": "declined", "withdrawn": "withdrawn", "closed": "closed",
	"routine": "routine", "soon": "soon", "urgent": "urgent",
	"not_asked": "not asked", "given": "given", "refused": "refused", "shared_without_consent": "shared without consent",
	// follow-ups
	"check_in": "check-in", "referral_pickup": "referral pick-up", "appointment": "appointment",
	"open": "open", "done": "done", "cancelled": "cancelled",
	// review
	"awaiting_review": "awaiting review", "signed_off": "signed off",
}

// plain is a vocabulary value in plain words ("" stays ""): the summary's
// own English words, and the catalogue's in another language.
func plain(pr *i18n.Printer, v string) string {
	if pr.Lang != i18n.English {
		return pr.Value(v)
	}
	if w, ok := plainWords[v]; ok {
		return w
	}
	return strings.ReplaceAll(v, "_", " ")
}

func plainList(pr *i18n.Printer, vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = plain(pr, v)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// summaryEntry is one dated entry of a case summary. Lines are label and
// text pairs, shown only when the text is not empty.
type summaryEntry struct {
	At      time.Time
	Kind    string // encounter | referral | follow-up
	Heading string
	Concern string
	Lines   []summaryLine
}

type summaryLine struct{ Label, Text string }

func (e *summaryEntry) add(label, text string) {
	if text = strings.TrimSpace(text); text != "" {
		e.Lines = append(e.Lines, summaryLine{label, text})
	}
}

// handleCaseSummary serves GET /portal/young-people/:id/summary. It is
// audited as a read of every record it shows.
func (p *Portal) handleCaseSummary(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	if yp.Erased != nil || !live(yp) {
		return errNotFound
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	encs, refs, fus, err := p.aboutYoungPerson(c, string(yp.ID))
	if err != nil {
		return err
	}
	names := func(ids []string) string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = d.person(id)
		}
		sort.Strings(out)
		return strings.Join(out, ", ")
	}
	pr := p.tr(c)
	shown := []string{string(yp.ID)}
	var entries []summaryEntry
	for _, r := range encs {
		e := summaryEntry{At: r.Time("started_at"), Kind: "encounter", Heading: pr.T("Encounter in %s", str(r, "area"))}
		if lvl := domain.ConcernLevel(r); lvl != "" {
			e.Concern = pr.Value(lvl)
		}
		e.add("Workers", names(r.Set("workers")))
		e.add("Talked about", plainList(pr, r.Set("topics")))
		e.add("What happened", str(r, "note"))
		e.add("Agreed actions", str(r, "actions"))
		if str(r, "review_status") == "signed_off" {
			e.add("Signed off by", d.person(str(r, "signed_off_by"))+strings.TrimRight(" — "+str(r, "review_comment"), " —"))
		}
		entries = append(entries, e)
		shown = append(shown, string(r.ID))
	}
	for _, r := range refs {
		at := r.Time("submitted_at")
		if at.IsZero() {
			at = r.Created.Time()
		}
		e := summaryEntry{At: at, Kind: "referral", Heading: pr.T("Referral to %s", d.service(str(r, "service_id")))}
		e.add("Urgency", plain(pr, str(r, "urgency")))
		e.add("Consent", plain(pr, str(r, "consent")))
		e.add("Reason", str(r, "reason"))
		e.add("What they want", str(r, "wants"))
		st := plain(pr, str(r, "status"))
		if dec := referralDecision(r, d); dec.By != "" {
			st = pr.T("%s by %s, %s", st, dec.By, pr.Time(dec.At.In(p.loc), "Mon 2 Jan 2006, 15:04"))
		}
		e.add("Status", st)
		e.add("Outcome", str(r, "outcome"))
		e.add("Reason declined", str(r, "decline_reason"))
		e.add("Reason withdrawn", str(r, "withdraw_reason"))
		entries = append(entries, e)
		shown = append(shown, string(r.ID))
	}
	for _, r := range fus {
		heading := pr.T("Follow-up")
		if k := str(r, "kind"); k != "" {
			heading = pr.T("Follow-up: %s", plain(pr, k))
		}
		e := summaryEntry{At: r.Time("due_at"), Kind: "follow-up", Heading: heading}
		e.add("Assigned to", d.person(str(r, "assignee")))
		e.add("Status", plain(pr, str(r, "status")))
		e.add("Note", str(r, "note"))
		entries = append(entries, e)
		shown = append(shown, string(r.ID))
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].At.Before(entries[j].At) })
	if err := p.audit(c, domain.ActionRead, string(yp.ID), map[string]any{"type": yp.Type, "page": "case-summary", "records": shown}); err != nil {
		return err
	}
	return p.render(c, "casesummary", "Case summary: %s", map[string]any{
		"YP": toYPRow(yp, d), "Wants": str(yp, "wants"), "Entries": entries, "Counts": []int{len(encs), len(refs), len(fus)},
		"By": sess(c).Person.Name, "Printed": p.now(),
	}, str(yp, "known_as"))
}
