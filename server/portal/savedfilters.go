package portal

import (
	"html/template"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// Saved filters: a supervisor names the filter a list shows and opens it
// again in one click. Each is their own (the store keys them by person).

func registerSavedFilterRoutes(r routes, p *Portal) {
	r.Post("/saved-filters", p.handleSaveFilter)
	r.Post("/saved-filters/:id/delete", p.handleDeleteSavedFilter)
}

// savedLists maps a list page (its template) to the list its filters are
// saved under (domain.SavedFilterLists), which is also its path.
var savedLists = map[string]string{"encounters": "encounters", "youngpeople": "young-people", "referrals": "referrals", "audit": "audit"}

// savedBox is the saved-filters panel of a list page.
type savedBox struct {
	List    string // the list's path under the portal
	Query   string // the filter shown now, to save
	Filters []savedLink
}

// savedLink is a saved filter as a link. Href is trusted: the list is one of
// the fixed paths and the query was re-encoded by url.Values when saved (and
// is checked again here), so html/template must not escape its & and =.
type savedLink struct {
	ID   int64
	Name string
	Href template.URL
}

// savedFilterBox is the panel for page, nil on pages without one.
func (p *Portal) savedFilterBox(c *fiber.Ctx, page string) (*savedBox, error) {
	list, ok := savedLists[page]
	s := sess(c)
	if !ok || s == nil {
		return nil, nil
	}
	fs, err := p.store.SavedFilters(c.UserContext(), s.Person.ID, list)
	if err != nil {
		return nil, err
	}
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	q.Del("page")
	q.Del("done")
	box := &savedBox{List: list, Query: q.Encode()}
	for _, f := range fs {
		v, err := url.ParseQuery(f.Query)
		if err != nil {
			continue
		}
		box.Filters = append(box.Filters, savedLink{ID: f.ID, Name: f.Name, Href: template.URL(p.cfg.Prefix + "/" + list + "?" + v.Encode())})
	}
	return box, nil
}

// handleSaveFilter serves POST /portal/saved-filters (list, name, query):
// keeps the filter and goes back to the list, filtered.
func (p *Portal) handleSaveFilter(c *fiber.Ctx) error {
	f, err := p.store.SaveFilter(c.UserContext(), domain.SavedFilter{PersonID: sess(c).Person.ID, List: c.FormValue("list"),
		Name: c.FormValue("name"), Query: c.FormValue("query")})
	if err != nil {
		return err
	}
	return p.redirect(c, "/"+f.List+"?"+f.Query)
}

// handleDeleteSavedFilter serves POST /portal/saved-filters/:id/delete.
func (p *Portal) handleDeleteSavedFilter(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	list := c.FormValue("list")
	if _, ok := savedListPaths[list]; !ok {
		return invalid("Unknown list.")
	}
	if err := p.store.DeleteSavedFilter(c.UserContext(), sess(c).Person.ID, id); err != nil {
		return err
	}
	return p.redirect(c, "/"+list)
}

var savedListPaths = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range domain.SavedFilterLists {
		m[l] = true
	}
	return m
}()
