package portal

import (
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Duplicate young people: two workers meet the same young person and each
// creates a profile. The portal flags likely pairs (domain.LikelyDuplicates)
// on the young people list, on each profile and in a list of their own; a
// supervisor merges a pair, with a reason, after confirming, and every
// encounter, referral and follow-up follows the kept profile, on phones too
// (the merge is a server-authored changeset like any other edit).

func registerDuplicateRoutes(r routes, p *Portal) {
	r.Get("/young-people/duplicates", p.handleDuplicates)
	r.Get("/young-people/merge", p.handleMergeForm)
	r.Post("/young-people/merge", p.handleMerge)
}

// dupPair is one likely pair as the lists show it.
type dupPair struct {
	A, B ypRow
}

// listedYoungPeople are the scope's young people a list shows: live and not
// merged into another profile.
func (p *Portal) listedYoungPeople(c *fiber.Ctx) ([]*syncengine.Record, error) {
	all, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return nil, err
	}
	out := make([]*syncengine.Record, 0, len(all))
	for _, r := range all {
		if domain.MergedInto(r) == "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// duplicateIDs is the set of young people in scope with a likely duplicate.
func (p *Portal) duplicateIDs(c *fiber.Ctx) (map[string]bool, [][2]*syncengine.Record, error) {
	yps, err := p.listedYoungPeople(c)
	if err != nil {
		return nil, nil, err
	}
	pairs := domain.DuplicatePairs(yps)
	ids := map[string]bool{}
	for _, pr := range pairs {
		ids[string(pr[0].ID)], ids[string(pr[1].ID)] = true, true
	}
	return ids, pairs, nil
}

func toYPRow(r *syncengine.Record, d *directory) ypRow {
	return ypRow{ID: string(r.ID), KnownAs: str(r, "known_as"), AgeBand: str(r, "age_band"), Gender: str(r, "gender"),
		Area: str(r, "area"), Team: d.team(str(r, "team_id")), KeyWorker: d.person(str(r, "key_worker")), Hold: r.Bool("safeguarding_hold")}
}

// handleDuplicates serves GET /portal/young-people/duplicates: every likely
// duplicate pair in the supervisor's teams, paged, each with a link to
// review and merge it.
func (p *Portal) handleDuplicates(c *fiber.Ctx) error {
	_, pairs, err := p.duplicateIDs(c)
	if err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	pg, err := parsePage(c, len(pairs))
	if err != nil {
		return err
	}
	rows := make([]dupPair, 0, pg.shown())
	var shown []string
	for _, pr := range pairs[pg.From:pg.To] {
		rows = append(rows, dupPair{A: toYPRow(pr[0], d), B: toYPRow(pr[1], d)})
		shown = append(shown, string(pr[0].ID), string(pr[1].ID))
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "duplicates", "shown": len(shown), "records": shown}); err != nil {
		return err
	}
	return p.render(c, "duplicates", "Possible duplicates", map[string]any{"Pairs": rows, "Page": pg})
}

// mergeCandidates loads the two profiles a merge names, each one the
// supervisor may merge (domain.Authorize, VerbMerge); anything else is not
// found or forbidden, as for every record page.
func (p *Portal) mergeCandidates(c *fiber.Ctx, keep, lose string) (*syncengine.Record, *syncengine.Record, error) {
	if keep == "" || lose == "" {
		return nil, nil, invalid("Choose the two profiles to merge.")
	}
	w, err := p.teamRecord(c, syncengine.TypeYoungPerson, keep, domain.VerbMerge)
	if err != nil {
		return nil, nil, err
	}
	l, err := p.teamRecord(c, syncengine.TypeYoungPerson, lose, domain.VerbMerge)
	if err != nil {
		return nil, nil, err
	}
	return w, l, nil
}

// recordsAbout are the ids of the live records about a young person the
// supervisor may see: encounters naming them, their referrals and follow-ups.
func (p *Portal) recordsAbout(c *fiber.Ctx, id string) ([]syncengine.RecordID, error) {
	encs, refs, fus, err := p.aboutYoungPerson(c, id)
	if err != nil {
		return nil, err
	}
	var ids []syncengine.RecordID
	for _, rs := range [][]*syncengine.Record{encs, refs, fus} {
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// handleMergeForm serves GET /portal/young-people/merge?a=&b=: both profiles
// side by side with what each has recorded, to choose which to keep, give a
// reason and confirm.
func (p *Portal) handleMergeForm(c *fiber.Ctx) error {
	a, b, err := p.mergeCandidates(c, c.Query("a"), c.Query("b"))
	if err != nil {
		return err
	}
	if err := domain.CheckMerge(domain.MergeRequest{Winner: a, Loser: b, Reason: "(checked at merge)"}); err != nil {
		return err
	}
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	type side struct {
		YP     ypRow
		Wants  string
		Counts []int
	}
	var sides []side
	for _, r := range []*syncengine.Record{a, b} {
		encs, refs, fus, err := p.aboutYoungPerson(c, string(r.ID))
		if err != nil {
			return err
		}
		sides = append(sides, side{YP: toYPRow(r, d), Wants: str(r, "wants"), Counts: []int{len(encs), len(refs), len(fus)}})
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "merge", "records": []string{string(a.ID), string(b.ID)}}); err != nil {
		return err
	}
	return p.render(c, "merge", "Merge two profiles", map[string]any{"Sides": sides, "Likely": domain.LikelyDuplicates(a, b)})
}

// handleMerge serves POST /portal/young-people/merge (a, b, keep: a or b,
// reason, confirm=yes): folds the other profile into "keep" in one
// server-authored changeset (domain.Merge): nothing of either side is lost,
// and the merged profile is marked, not deleted.
func (p *Portal) handleMerge(c *fiber.Ctx) error {
	a, b, keep := c.FormValue("a"), c.FormValue("b"), c.FormValue("keep")
	var lose string
	switch {
	case a == b:
		return invalid("Choose two different profiles.")
	case keep == a:
		lose = b
	case keep == b:
		lose = a
	default:
		return invalid("Choose which profile to keep: the other is merged into it.")
	}
	w, l, err := p.mergeCandidates(c, keep, lose)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if c.FormValue("confirm") != "yes" {
		return invalid("Confirm that both profiles are the same young person.")
	}
	if err := domain.CheckMerge(domain.MergeRequest{Winner: w, Loser: l, Reason: reason}); err != nil {
		return err
	}
	about, err := p.recordsAbout(c, string(l.ID))
	if err != nil {
		return err
	}
	by := sess(c).Person.Name
	at := p.now().In(p.loc).Format("2 January 2006")
	err = p.edit(c, func(tx *syncengine.Txn) error {
		// Read again inside the transaction: a phone's push may have
		// landed since the form was shown.
		m := domain.MergeRequest{Reason: reason, By: by, At: at}
		var err error
		if m.Winner, err = tx.Record(w.ID); err != nil {
			return err
		}
		if m.Loser, err = tx.Record(l.ID); err != nil {
			return err
		}
		for _, id := range about {
			r, err := tx.Record(id)
			if err != nil {
				return err
			}
			m.About = append(m.About, r)
		}
		return domain.Merge(tx, m)
	})
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionWrite, string(w.ID), map[string]any{"merge": string(l.ID), "records_moved": len(about)}); err != nil {
		return err
	}
	return p.redirect(c, "/young-people/"+string(w.ID)+"?done=merged")
}

// possibleDuplicates are the profiles in scope likely to be the same young
// person as yp, by name.
func (p *Portal) possibleDuplicates(c *fiber.Ctx, yp *syncengine.Record, d *directory) ([]ypRow, error) {
	yps, err := p.listedYoungPeople(c)
	if err != nil {
		return nil, err
	}
	var out []ypRow
	for _, r := range yps {
		if domain.LikelyDuplicates(yp, r) {
			out = append(out, toYPRow(r, d))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KnownAs < out[j].KnownAs })
	return out, nil
}

// mergeChoices are the other profiles of yp's team a supervisor may merge
// with it, by name: for the pair the name rule does not catch (a nickname).
func (p *Portal) mergeChoices(c *fiber.Ctx, yp *syncengine.Record) ([]ypRow, error) {
	yps, err := p.listedYoungPeople(c)
	if err != nil {
		return nil, err
	}
	team := str(yp, "team_id")
	var out []ypRow
	for _, r := range yps {
		if r.ID != yp.ID && str(r, "team_id") == team {
			out = append(out, ypRow{ID: string(r.ID), KnownAs: str(r, "known_as"), AgeBand: str(r, "age_band"), Area: str(r, "area")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KnownAs < out[j].KnownAs })
	return out, nil
}

// mergedInto are the profiles in scope merged into id, directly or through
// a chain (A into B, then B into C: both count for C): their late records
// (a phone that was offline during a merge) still belong to its chronology.
func (p *Portal) mergedInto(c *fiber.Ctx, id string) ([]string, error) {
	all, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return nil, err
	}
	return syncengine.MergedFrom(all, id), nil
}

// keptProfile is the profile a merged one finally lives on: the end of its
// chain of merges within the reader's scope (A into B, then B into C: C).
// A chain that leaves the scope or loops stops at the last profile seen.
func (p *Portal) keptProfile(c *fiber.Ctx, yp *syncengine.Record) (string, error) {
	all, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return "", err
	}
	next := map[string]string{}
	for _, r := range all {
		next[string(r.ID)] = domain.MergedInto(r)
	}
	to := domain.MergedInto(yp)
	for seen := map[string]bool{string(yp.ID): true}; next[to] != "" && !seen[next[to]]; to = next[to] {
		seen[to] = true
	}
	return to, nil
}
