package portal

import (
	"encoding/csv"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
)

// Bulk import of staff from CSV, with a dry run: every row is checked by
// the same rule as the form (domain.ValidatePerson, against the organisation
// and the rows above it), and nothing is saved unless every row passes and
// the admin confirms; then all rows are saved in one transaction.

const maxImportRows = 2000

var importColumns = []string{"name", "email", "role", "team", "supervises", "service", "tz"}

// importRow is one line of the file and what the dry run found.
type importRow struct {
	Line   int
	Person domain.Person
	Error  string
}

func registerImportRoutes(r routes, p *Portal) {
	r.Get("/admin/people/import", p.handleImportForm)
	r.Post("/admin/people/import", p.handleImport)
}

// handleImportForm serves GET /portal/admin/people/import.
func (p *Portal) handleImportForm(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	return p.render(c, "admin_import", "Import staff", map[string]any{"Columns": strings.Join(importColumns, ",")})
}

// handleImport serves POST /portal/admin/people/import: a dry run, or (with
// commit=1 and no row in error) the import.
func (p *Portal) handleImport(c *fiber.Ctx) error {
	if err := p.administer(c); err != nil {
		return err
	}
	text := c.FormValue("csv")
	rows, err := p.parseImport(c, text)
	data := map[string]any{"Columns": strings.Join(importColumns, ","), "CSV": text, "Rows": rows}
	if err != nil {
		if !isFormError(err) {
			return err
		}
		data["Error"] = p.errText(c, err)
		c.Status(fiber.StatusUnprocessableEntity)
		return p.render(c, "admin_import", "Import staff", data)
	}
	bad := 0
	for _, r := range rows {
		if r.Error != "" {
			bad++
		}
	}
	data["Bad"] = bad
	if bad > 0 || c.FormValue("commit") != "1" {
		if bad > 0 {
			c.Status(fiber.StatusUnprocessableEntity)
		}
		data["DryRun"] = true
		return p.render(c, "admin_import", "Import staff", data)
	}
	people := make([]domain.Person, len(rows))
	for i, r := range rows {
		people[i] = r.Person
	}
	if err := p.store.UpsertPeople(c.UserContext(), people); err != nil {
		if isFormError(err) {
			data["Error"] = p.errText(c, err)
			c.Status(fiber.StatusUnprocessableEntity)
			return p.render(c, "admin_import", "Import staff", data)
		}
		return err
	}
	if err := p.audit(c, domain.ActionEdit, "", map[string]any{"type": "person", "imported": len(people)}); err != nil {
		return err
	}
	data["Imported"] = len(people)
	return p.render(c, "admin_import", "Import staff", data)
}

// parseImport reads the CSV and checks every row; an error is about the
// file as a whole (wrong columns, unreadable).
func (p *Portal) parseImport(c *fiber.Ctx, text string) ([]importRow, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = len(importColumns)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, invalid("The first line must name the columns: %s", strings.Join(importColumns, ","))
	}
	for i, h := range header {
		if strings.ToLower(strings.TrimSpace(h)) != importColumns[i] {
			return nil, invalid("Column %d is “%s”; the columns are %s", i+1, h, strings.Join(importColumns, ","))
		}
	}
	org, _, err := p.org(c)
	if err != nil {
		return nil, err
	}
	teamID := func(s string) string {
		for _, t := range org.Teams {
			if strings.EqualFold(t.Name, s) || t.ID == s {
				return t.ID
			}
		}
		return s // unknown: ValidatePerson names it
	}
	serviceID := func(s string) string {
		for _, x := range org.Services {
			if strings.EqualFold(x.Name, s) || x.ID == s {
				return x.ID
			}
		}
		return s
	}
	var rows []importRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return rows, invalid("Line %d cannot be read: %s", line, err)
		}
		if len(rows) == maxImportRows {
			return rows, invalid("Import at most %d people at a time.", maxImportRows)
		}
		v := func(i int) string { return strings.TrimSpace(rec[i]) }
		person := domain.Person{ID: newID("p_"), Name: v(0), Email: strings.ToLower(v(1)), Role: strings.ToLower(v(2)),
			TZ: v(6), Supervises: []string{}}
		if v(3) != "" {
			person.TeamID = teamID(v(3))
		}
		for _, t := range strings.Split(v(4), ";") {
			if t = strings.TrimSpace(t); t != "" {
				person.Supervises = append(person.Supervises, teamID(t))
			}
		}
		if v(5) != "" {
			person.ServiceID = serviceID(v(5))
		}
		row := importRow{Line: line, Person: person}
		if err := domain.ValidatePerson(person, org); err != nil {
			if !isFormError(err) {
				return nil, err
			}
			row.Error = p.errText(c, err)
		} else {
			org.People = append(org.People, person) // a later row may not reuse this e-mail
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, invalid("The file has no people in it.")
	}
	return rows, nil
}
