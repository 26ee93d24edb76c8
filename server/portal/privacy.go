package portal

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Privacy is erasure, retention and the access history.
type Privacy interface {
	Erase(ctx context.Context, req domain.ErasureRequest) (domain.ErasureResult, error)
	YoungPersonRecords(ctx context.Context, ypID string) ([]string, error)
	AccessHistory(ctx context.Context, ids []string) ([]domain.Access, error)
	PurgeNotices(ctx context.Context, ids []string) ([]domain.PurgeNotice, error)
	RetentionRules(ctx context.Context) ([]domain.RetentionRule, error)
	SetRetentionRule(ctx context.Context, rule domain.RetentionRule, by string) error
	RetentionPreview(ctx context.Context) (domain.RetentionPlan, error)
	RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error)
}

func registerPrivacyRoutes(sup, admin routes, p *Portal) {
	sup.Get("/young-people/:id/access", p.handleAccessHistory)
	sup.Get("/young-people/:id/erase", p.handleEraseForm)
	admin.Get("/retention", p.handleRetention)
	admin.Post("/retention", p.handleRetentionRules)
}

type accessRow struct {
	domain.Access
	Person string
}

// handleAccessHistory serves GET /portal/young-people/:id/access: every
// person and device that received or opened the young person's records,
// and the phones told to purge them after an erasure.
func (p *Portal) handleAccessHistory(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbRead)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	ids, err := p.store.YoungPersonRecords(ctx, string(yp.ID))
	if err != nil {
		return err
	}
	// The page itself is a read of the profile: audited first, so it lists itself.
	if err := p.audit(c, domain.ActionRead, string(yp.ID), map[string]any{"page": "access-history"}); err != nil {
		return err
	}
	hist, err := p.store.AccessHistory(ctx, ids)
	if err != nil {
		return err
	}
	notices, err := p.store.PurgeNotices(ctx, ids)
	if err != nil {
		return err
	}
	d, err := p.directory(ctx)
	if err != nil {
		return err
	}
	rows := make([]accessRow, len(hist))
	for i, a := range hist {
		rows[i] = accessRow{Access: a, Person: d.person(a.PersonID)}
	}
	sum := domain.Summarise(hist)
	type who struct{ ID, Name string }
	var people []who
	for _, id := range sum.People {
		people = append(people, who{id, d.person(id)})
	}
	name := str(yp, "known_as")
	if yp.Erased != nil {
		name = p.tr(c).T("Erased record")
	}
	return p.render(c, "access", "Who saw %s's records", map[string]any{"ID": string(yp.ID), "Name": name, "Rows": rows,
		"People": people, "Devices": sum.Devices, "Notices": notices, "Records": len(ids)}, name)
}

// encounterChoice is one encounter naming the young person on the erase page:
// its narrative now and as the redaction would leave it, side by side.
type encounterChoice struct {
	ID, Area      string
	At            time.Time
	Before, After []fieldText // per text field (note, actions)
	AlsoNames     int         // other young people it names (their part stays)
}

// fieldText is one text field of a record: its name and its words.
type fieldText struct{ Field, Text string }

// handleEraseForm serves GET /portal/young-people/:id/erase: the supervisor
// sees what will be erased and chooses which encounters are redacted.
func (p *Portal) handleEraseForm(c *fiber.Ctx) error {
	yp, err := p.teamRecord(c, syncengine.TypeYoungPerson, c.Params("id"), domain.VerbErase)
	if err != nil {
		return err
	}
	if yp.Erased != nil {
		return p.redirect(c, "/young-people/"+string(yp.ID))
	}
	encs, refs, fus, err := p.aboutYoungPerson(c, string(yp.ID))
	if err != nil {
		return err
	}
	words := c.Query("words", str(yp, "known_as"))
	choices := encounterChoices(encs, string(yp.ID), splitWords(words))
	if err := p.audit(c, domain.ActionRead, string(yp.ID), map[string]any{"page": "erase-review", "encounters": len(encs)}); err != nil {
		return err
	}
	return p.render(c, "erase", "Erase %s", map[string]any{"ID": string(yp.ID), "KnownAs": str(yp, "known_as"),
		"Hold": yp.Bool("safeguarding_hold"), "Words": words, "Encounters": choices, "Referrals": len(refs), "FollowUps": len(fus)}, str(yp, "known_as"))
}

func encounterChoices(encs []*syncengine.Record, ypID string, words []string) []encounterChoice {
	var out []encounterChoice
	for _, r := range encs {
		ch := encounterChoice{ID: string(r.ID), Area: str(r, "area"), At: r.Time("started_at"), AlsoNames: len(r.Set("young_people")) - 1}
		for _, f := range []string{"note", "actions"} {
			text := str(r, f)
			if text == "" {
				continue
			}
			ch.Before = append(ch.Before, fieldText{f, text})
			ch.After = append(ch.After, fieldText{f, redactPreview(text, words)})
		}
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// redactPreview is the text as the redaction will leave it.
func redactPreview(text string, words []string) string {
	rs := []rune(text)
	for _, cut := range syncengine.RedactWords(text, words) { // last first
		rs = append(append(append([]rune{}, rs[:cut[0]]...), []rune("[redacted]")...), rs[cut[0]+cut[1]:]...)
	}
	return string(rs)
}

// splitWords reads the words to redact: one per line or comma-separated.
func splitWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if w = strings.TrimSpace(w); len(w) >= 2 && len(w) <= 100 {
			out = append(out, w)
		}
		if len(out) == 50 {
			break
		}
	}
	return out
}

// handleRetention serves GET /portal/retention (admin): the schedule, what
// the next run will remove, and what the last runs removed.
func (p *Portal) handleRetention(c *fiber.Ctx) error {
	ctx := c.UserContext()
	rules, err := p.store.RetentionRules(ctx)
	if err != nil {
		return err
	}
	plan, err := p.store.RetentionPreview(ctx)
	if err != nil {
		return err
	}
	runs, err := p.store.RetentionRuns(ctx, 10)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "retention", "remove": len(plan.Remove)}); err != nil {
		return err
	}
	return p.render(c, "retention", "Retention", map[string]any{"Rules": rules, "Plan": plan, "Runs": runs})
}

// handleRetentionRules serves POST /portal/retention: keep_days per type.
func (p *Portal) handleRetentionRules(c *fiber.Ctx) error {
	for typ := range domain.RetentionBasis {
		v := strings.TrimSpace(c.FormValue("keep_" + typ))
		if v == "" {
			continue
		}
		days, err := strconv.Atoi(v)
		if err != nil {
			return invalid("Keep %s records for a whole number of days.", strings.ReplaceAll(typ, "_", " "))
		}
		if err := p.store.SetRetentionRule(c.UserContext(), domain.RetentionRule{Type: typ, KeepDays: days}, sess(c).Person.ID); err != nil {
			return err
		}
	}
	return p.redirect(c, "/retention?done=saved")
}
