package domain

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// SavedFilter is a list's filter a person named and kept, to open again in
// one click: the list's query string, never the results.
type SavedFilter struct {
	ID       int64
	PersonID string
	List     string // one of SavedFilterLists
	Name     string
	Query    string // the list's query string, without the page
	Created  time.Time
}

// SavedFilterLists are the lists whose filters can be saved.
var SavedFilterLists = []string{"encounters", "young-people", "referrals", "audit"}

// MaxSavedFilters is how many filters a person keeps per list.
const MaxSavedFilters = 20

// SavedFilters keeps each person's saved filters.
type SavedFilters interface {
	// SaveFilter keeps f for f.PersonID, replacing their filter of the
	// same list and name; it returns it with its id. More than
	// MaxSavedFilters on one list is a conflict.
	SaveFilter(ctx context.Context, f SavedFilter) (SavedFilter, error)
	// SavedFilters lists a person's filters of a list, by name.
	SavedFilters(ctx context.Context, personID, list string) ([]SavedFilter, error)
	// DeleteSavedFilter removes one of the person's own filters
	// (ENOTFOUND for anyone else's).
	DeleteSavedFilter(ctx context.Context, personID string, id int64) error
}

// CleanSavedFilter checks and normalises a filter before it is stored: a
// known list, a name of 1 to 60 characters, a query that parses, at most 500
// bytes, without paging (a saved filter opens on its first page).
func CleanSavedFilter(f SavedFilter) (SavedFilter, error) {
	f.Name = strings.TrimSpace(f.Name)
	switch {
	case f.PersonID == "":
		return f, Errorf(EINVALID, "save filter", "a saved filter belongs to a person")
	case !slices.Contains(SavedFilterLists, f.List):
		return f, Errorf(EINVALID, "save filter", "filters of this list cannot be saved")
	case f.Name == "" || utf8.RuneCountInString(f.Name) > 60 || !utf8.ValidString(f.Name):
		return f, Errorf(EINVALID, "save filter", "name the filter (1 to 60 characters)")
	}
	v, err := url.ParseQuery(strings.TrimPrefix(f.Query, "?"))
	if err != nil {
		return f, Errorf(EINVALID, "save filter", "the filter could not be read")
	}
	for _, k := range []string{"page", "per_page", "_csrf", "name"} {
		v.Del(k)
	}
	f.Query = v.Encode()
	if len(f.Query) > 500 {
		return f, Errorf(EINVALID, "save filter", "the filter is too long to save")
	}
	return f, nil
}
