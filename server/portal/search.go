package portal

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerSearchRoutes(r routes, p *Portal) {
	r.Get("/search", p.handleSearch)
}

// searchHit is one record a search found, with the words around the match.
type searchHit struct {
	Kind, Title, Link, Snippet string
	At                         time.Time
}

// snippet is up to 60 characters either side of the first match of q in s
// ("" when there is none); q is lower case.
func snippet(s, q string) string {
	i := strings.Index(strings.ToLower(s), q)
	if i < 0 {
		return ""
	}
	from, to := max(0, i-60), min(len(s), i+len(q)+60)
	for from > 0 && !utf8.RuneStart(s[from]) {
		from--
	}
	for to < len(s) && !utf8.RuneStart(s[to]) {
		to++
	}
	out := s[from:to]
	if from > 0 {
		out = "…" + out
	}
	if to < len(s) {
		out += "…"
	}
	return out
}

// handleSearch serves GET /portal/search?q=: names and narratives (young
// people's known-as, area and wants, encounters' notes, agreed actions and
// areas, referrals' reasons and outcomes, follow-ups' notes) through the
// store's full-text index (SQLite FTS5, Postgres tsvector), in the signed-in
// supervisor's teams only; each hit is checked again against the policy as
// the record pages are. Every search is audited as a read of the records it
// showed; the terms are kept as a hash, so the audit log does not become a
// second copy of names.
func (p *Portal) handleSearch(c *fiber.Ctx) error {
	raw := strings.TrimSpace(c.Query("q"))
	terms := domain.SearchTerms(raw)
	if raw != "" && (len(terms) == 0 || len(raw) > 100) {
		return invalid("Search for words of 2 or more letters, up to 100 characters.")
	}
	var hits []searchHit
	pg, err := parsePage(c, 0)
	if err != nil {
		return err
	}
	if len(terms) > 0 {
		s := sess(c).Scope
		teams, ok := teamIDs(s)
		q := domain.SearchQuery{Text: raw, All: s.All, TeamIDs: teams, Limit: pageSize}
		if !ok {
			q = domain.SearchQuery{Text: raw}
		}
		want := max(1, c.QueryInt("page", 1))
		q.Offset = (want - 1) * pageSize
		found, total, err := p.store.Search(c.UserContext(), q)
		if err != nil {
			return err
		}
		if pg, err = parsePage(c, total); err != nil {
			return err
		}
		if pg.From != q.Offset {
			// Past the end: the last page, as every list does.
			q.Offset = pg.From
			if found, _, err = p.store.Search(c.UserContext(), q); err != nil {
				return err
			}
		}
		if hits, err = p.searchHits(c, found, terms); err != nil {
			return err
		}
	}
	detail := map[string]any{"page": "search", "results": pg.Total, "shown": len(hits)}
	if raw != "" {
		sum := sha256.Sum256([]byte(strings.Join(terms, " ")))
		detail["query_sha256"] = hex.EncodeToString(sum[:])
		links := make([]string, len(hits))
		for i, h := range hits {
			links[i] = h.Link
		}
		detail["records"] = links
	}
	if err := p.audit(c, domain.ActionRead, "", detail); err != nil {
		return err
	}
	return p.render(c, "search", "Search", map[string]any{"Q": raw, "Hits": hits, "Page": pg})
}

// searchHits turns the index's hits into lines to show, each record read
// again and checked against the policy (a record the index still lists but
// the person may no longer read is left out).
func (p *Portal) searchHits(c *fiber.Ctx, found []domain.SearchHit, terms []string) ([]searchHit, error) {
	ctx := c.UserContext()
	who := domain.ActorOf(sess(c).Scope, nil)
	names := map[string]string{}
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := ""
		if r, _ := p.store.RecordState(ctx, id); live(r) {
			n = str(r, "known_as")
		}
		names[id] = n
		return n
	}
	var out []searchHit
	for _, h := range found {
		r, f, err := p.store.FiledRecord(ctx, h.RecordID)
		if err != nil {
			return nil, err
		}
		if !live(r) || domain.Authorize(who, domain.Action{Verb: domain.VerbRead}, domain.Target{Type: r.Type, Team: f.Team, Service: f.Service, Exists: true}) != nil {
			continue
		}
		hit := searchHit{Snippet: firstSnippet(r, terms)}
		id := string(r.ID)
		switch r.Type {
		case syncengine.TypeYoungPerson:
			hit.Kind, hit.Title, hit.Link = "Young person", str(r, "known_as"), "/young-people/"+id
		case syncengine.TypeEncounter:
			var who []string
			for _, y := range r.Set("young_people") {
				if n := name(y); n != "" {
					who = append(who, n)
				}
			}
			hit.Kind, hit.Title, hit.Link, hit.At = "Encounter", str(r, "area")+withNames(who), "/encounters/"+id, r.Time("started_at")
		case syncengine.TypeReferral:
			hit.Kind, hit.Title, hit.Link, hit.At = "Referral", name(str(r, "young_person_id")), "/referrals/"+id, r.Time("submitted_at")
		case syncengine.TypeFollowUp:
			hit.Kind, hit.Title, hit.Link, hit.At = "Follow-up", name(str(r, "young_person_id")), "/follow-ups", r.Time("due_at")
			if yp := str(r, "young_person_id"); yp != "" {
				hit.Link = "/young-people/" + yp
			}
		default:
			continue
		}
		out = append(out, hit)
	}
	return out, nil
}

// firstSnippet is the words around the first term found in the record's
// searched fields (the index matches prefixes, so this finds the same).
func firstSnippet(r *syncengine.Record, terms []string) string {
	for _, f := range domain.SearchFields(r.Type) {
		for _, t := range terms {
			if s := snippet(str(r, f), t); s != "" {
				return s
			}
		}
	}
	return ""
}

func withNames(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " — " + strings.Join(names, ", ")
}
