package portal

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/i18n"
	"github.com/joinedup/joinedup/syncengine"
)

func registerDirectoryRoutes(r routes, p *Portal) {
	r.Get("/services", p.handleDirectory)
	r.Get("/services/:id", p.handleServiceDetail)
	r.Post("/services/:id", p.handleServiceEdit)
}

// hoursText renders stored opening hours for people, whatever shape they have.
// Phones' copies of the directory get English (i18n.For(i18n.English)).
func hoursText(pr *i18n.Printer, raw json.RawMessage) string {
	var list []map[string]any
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, h := range list {
			day := ""
			if w, ok := h["Weekday"].(float64); ok && int(w) >= 0 && int(w) < 7 {
				day = pr.ShortWeekday(time.Weekday(int(w)))
			}
			start, _ := h["Start"].(string)
			end, _ := h["End"].(string)
			parts = append(parts, strings.TrimSpace(day+" "+start+"–"+end))
		}
		return strings.Join(parts, ", ")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(raw) == "{}" || len(raw) == 0 {
		return ""
	}
	return string(raw)
}

type serviceEntry struct {
	domain.Service
	HoursText string
}

// handleDirectory serves GET /portal/services: the service directory.
func (p *Portal) handleDirectory(c *fiber.Ctx) error {
	svcs, err := p.store.Services(c.UserContext())
	if err != nil {
		return err
	}
	rows := make([]serviceEntry, len(svcs))
	for i, s := range svcs {
		rows[i] = serviceEntry{s, hoursText(p.tr(c), s.Hours)}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return p.render(c, "directory", "Service directory", map[string]any{"Rows": rows, "CanEdit": sess(c).Person.Role == domain.RoleAdmin})
}

// handleServiceDetail serves GET /portal/services/:id: a service and its
// data-sharing agreement (an edit form for admins).
func (p *Portal) handleServiceDetail(c *fiber.Ctx) error {
	svc, err := p.store.Service(c.UserContext(), c.Params("id"))
	if err != nil {
		if syncengine.ErrorCode(err) == domain.ENOTFOUND {
			return errNotFound
		}
		return err
	}
	return p.serviceDetailPage(c, fiber.StatusOK, svc, svc, weekGrid(svc.Hours), "")
}

// serviceDetailPage shows stored svc, and the edit form filled with form
// (what was typed, when it was refused).
func (p *Portal) serviceDetailPage(c *fiber.Ctx, status int, svc, form domain.Service, week []weekRow, msg string) error {
	c.Status(status)
	return p.render(c, "servicedetail", "%s", map[string]any{"S": serviceEntry{svc, hoursText(p.tr(c), svc.Hours)}, "Form": form,
		"Week": week, "Error": msg, "Fields": domain.SharableFields(), "CanEdit": sess(c).Person.Role == domain.RoleAdmin}, svc.Name)
}

// handleServiceEdit serves POST /portal/services/:id (admins): contact,
// hours, pathway and the agreement's shared fields, read and checked as the
// new-service form's are (parseWeek, domain.ValidateService); a refusal is
// shown on the form and changes nothing. Audited with what changed.
func (p *Portal) handleServiceEdit(c *fiber.Ctx) error {
	if sess(c).Person.Role != domain.RoleAdmin {
		return errForbidden
	}
	if err := p.administer(c); err != nil {
		return err
	}
	svc, err := p.store.Service(c.UserContext(), c.Params("id"))
	if err != nil {
		if syncengine.ErrorCode(err) == domain.ENOTFOUND {
			return errNotFound
		}
		return err
	}
	before := svc
	svc.Contact = strings.TrimSpace(c.FormValue("contact"))
	svc.Pathway = strings.TrimSpace(c.FormValue("pathway"))
	svc.TZ = strings.TrimSpace(c.FormValue("tz"))
	svc.SharedFields = formValues(c, "shared")
	var week []weekRow
	svc.Hours, week = parseWeek(c)
	err = domain.ValidateService(svc)
	if err == nil && (len(svc.Contact) > 200 || len(svc.Pathway) > 4000) {
		err = domain.Errorf(domain.EINVALID, "validate service", "contact is limited to 200 characters and the pathway to 4,000")
	}
	if isFormError(err) {
		return p.serviceDetailPage(c, fiber.StatusUnprocessableEntity, before, svc, week, p.errText(c, err))
	} else if err != nil {
		return err
	}
	sort.Strings(svc.SharedFields)
	svc.SharedFields = slices.Compact(svc.SharedFields)
	if svc.SharedFields == nil {
		svc.SharedFields = []string{}
	}
	if err := p.store.UpsertService(c.UserContext(), svc); err != nil {
		return err
	}
	changed := []string{}
	if before.Contact != svc.Contact {
		changed = append(changed, "contact")
	}
	if before.Pathway != svc.Pathway {
		changed = append(changed, "pathway")
	}
	if string(before.Hours) != string(svc.Hours) || before.TZ != svc.TZ {
		changed = append(changed, "hours")
	}
	if !slices.Equal(sortedCopy(before.SharedFields), svc.SharedFields) {
		changed = append(changed, "shared_fields")
	}
	if err := p.syncServiceRecord(c, svc); err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionEdit, svc.ID, map[string]any{"type": "service", "changed": changed,
		"shared_before": before.SharedFields, "shared_after": svc.SharedFields}); err != nil {
		return err
	}
	return p.redirect(c, "/services/"+svc.ID+"?done=saved")
}

// syncServiceRecord carries a directory edit into the service's record, if
// the directory entry has one, so phones' copies of the directory follow.
func (p *Portal) syncServiceRecord(c *fiber.Ctx, svc domain.Service) error {
	rec, err := p.store.RecordState(c.UserContext(), svc.ID)
	if err != nil || !live(rec) || rec.Type != syncengine.TypeService {
		return err
	}
	id := rec.ID
	hours := hoursText(i18n.For(i18n.English), svc.Hours)
	if len(hours) > 200 {
		hours = hours[:200]
	}
	have := rec.Set("shared_fields")
	if str(rec, "contact") == svc.Contact && str(rec, "hours") == hours && str(rec, "pathway") == svc.Pathway && slices.Equal(have, svc.SharedFields) {
		return nil
	}
	return p.edit(c, func(tx *syncengine.Txn) error {
		if str(rec, "contact") != svc.Contact {
			if err := tx.Set(id, "contact", svc.Contact); err != nil {
				return err
			}
		}
		if str(rec, "hours") != hours {
			if err := tx.Set(id, "hours", hours); err != nil {
				return err
			}
		}
		if str(rec, "pathway") != svc.Pathway {
			if err := tx.ReplaceText(id, "pathway", svc.Pathway); err != nil {
				return err
			}
		}
		for _, f := range svc.SharedFields {
			if !slices.Contains(have, f) {
				if err := tx.Add(id, "shared_fields", f); err != nil {
					return err
				}
			}
		}
		for _, f := range have {
			if !slices.Contains(svc.SharedFields, f) {
				if err := tx.Remove(id, "shared_fields", f); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
