package domain

import (
	"context"
	"strings"
	"unicode"

	"github.com/joinedup/joinedup/syncengine"
)

// Full-text search over the records' names and narratives. Each store keeps
// its own index (SQLite FTS5, Postgres tsvector) in the transaction that
// stores a record, from the text SearchText gives; both match the terms
// SearchTerms gives, each as a prefix, all required.

// SearchQuery asks for records whose text holds every term. Scope is the
// teams searched: All for the whole organisation, otherwise TeamIDs only
// (none: nothing is found). Erased, deleted and merged records are never
// found.
type SearchQuery struct {
	Text    string
	All     bool
	TeamIDs []string
	Limit   int // 0: DefaultSearchLimit
	Offset  int
}

// DefaultSearchLimit is a page of results when the query sets none.
const DefaultSearchLimit = 50

// Prepare is what a store searches for q: its terms and q with the default
// page size; ok is false when nothing can be found (no terms, no teams).
func (q SearchQuery) Prepare() (_ SearchQuery, terms []string, ok bool) {
	terms = SearchTerms(q.Text)
	if len(terms) == 0 || (!q.All && len(q.TeamIDs) == 0) {
		return q, nil, false
	}
	if q.Limit <= 0 {
		q.Limit = DefaultSearchLimit
	}
	q.Offset = max(q.Offset, 0)
	return q, terms, true
}

// SearchHit is one record a search found, best match first.
type SearchHit struct {
	RecordID string
	Type     string
}

// Searcher is a store's full-text index.
type Searcher interface {
	// Search returns one page of hits and how many there are in all.
	Search(ctx context.Context, q SearchQuery) (hits []SearchHit, total int, err error)
}

// searchFields are the fields of each record type a search reads: names
// first, then narratives.
var searchFields = map[string][]string{
	syncengine.TypeYoungPerson: {"known_as", "area", "wants"},
	syncengine.TypeEncounter:   {"area", "note", "actions"},
	syncengine.TypeReferral:    {"reason", "wants", "outcome"},
	syncengine.TypeFollowUp:    {"note"},
}

// SearchFields lists the fields of a record type a search reads (nil: the
// type is not searched).
func SearchFields(typ string) []string { return searchFields[typ] }

// SearchText is what the index holds for a record, "" when the record must
// not be found at all (not a searched type, deleted, erased, merged away).
func SearchText(r *syncengine.Record) string {
	if r == nil || r.Deleted() || r.Erased != nil || MergedInto(r) != "" {
		return ""
	}
	var b strings.Builder
	for _, f := range searchFields[r.Type] {
		if s := r.String(f); s != "" {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// MaxSearchTerms bounds a query: each term is a prefix scan of the index.
const MaxSearchTerms = 8

// SearchTerms splits what a person typed into the words a search matches,
// lower case, letters and digits only (so no index's query syntax can be
// injected), at most MaxSearchTerms; words of one character are dropped.
func SearchTerms(q string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 2 {
			continue
		}
		out = append(out, w)
		if len(out) == MaxSearchTerms {
			break
		}
	}
	return out
}
