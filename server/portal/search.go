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
// people's known-as and wants, encounters' notes, agreed actions and areas,
// referrals' reasons) in the signed-in supervisor's scope only, paged. A
// substring match over the records the scope already loads: the same rows an
// SQL LIKE would find, without a full-text index the default build of the
// SQLite driver lacks (FTS5 needs the sqlite_fts5 build tag). Every search is
// audited as a read of the records it showed; the terms are kept as a hash,
// so the audit log does not become a second copy of names.
func (p *Portal) handleSearch(c *fiber.Ctx) error {
	raw := strings.TrimSpace(c.Query("q"))
	q := strings.ToLower(raw)
	if raw != "" && (utf8.RuneCountInString(q) < 2 || len(q) > 100) {
		return invalid("Search for 2 to 100 characters.")
	}
	var hits []searchHit
	if q != "" {
		names, err := p.youngPeopleNames(c)
		if err != nil {
			return err
		}
		yps, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
		if err != nil {
			return err
		}
		for _, r := range yps {
			for _, f := range []string{"known_as", "wants"} {
				if s := snippet(str(r, f), q); s != "" {
					hits = append(hits, searchHit{Kind: "Young person", Title: str(r, "known_as"), Link: "/young-people/" + string(r.ID), Snippet: s})
					break
				}
			}
		}
		encs, err := p.recordsInScope(c, syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		for _, r := range encs {
			for _, f := range []string{"note", "actions", "area"} {
				if s := snippet(str(r, f), q); s != "" {
					var who []string
					for _, y := range r.Set("young_people") {
						if n, ok := names[y]; ok {
							who = append(who, n)
						}
					}
					hits = append(hits, searchHit{Kind: "Encounter", Title: str(r, "area") + withNames(who), Link: "/encounters/" + string(r.ID),
						Snippet: s, At: r.Time("started_at")})
					break
				}
			}
		}
		refs, err := p.recordsInScope(c, syncengine.TypeReferral)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if s := snippet(str(r, "reason"), q); s != "" {
				hits = append(hits, searchHit{Kind: "Referral", Title: p.tr(c).T("Referral of %s", names[str(r, "young_person_id")]), Link: "/referrals/" + string(r.ID),
					Snippet: s, At: r.Time("submitted_at")})
			}
		}
	}
	pg, err := parsePage(c, len(hits))
	if err != nil {
		return err
	}
	hits = hits[pg.From:pg.To]
	detail := map[string]any{"page": "search", "results": pg.Total, "shown": len(hits)}
	if q != "" {
		sum := sha256.Sum256([]byte(q))
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

func withNames(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " — " + strings.Join(names, ", ")
}
