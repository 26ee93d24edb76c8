package portal

import (
	"errors"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

func registerConcernRoutes(r routes, p *Portal) {
	r.Get("/concerns", p.handleConcernList)
	r.Post("/encounters/:id/acknowledge", p.handleConcernAcknowledge)
}

// concernRow is an alert as the pages show it, with its encounter.
type concernRow struct {
	domain.ConcernAlert
	E       encounter
	AckedBy string // name
	Waiting time.Duration
}

// alertsInScope lists the concern alerts whose encounters the signed-in
// person may read: the encounter's filing decides, never the alert's team.
// encs are the encounters in scope when the caller has them already; any
// other alert's encounter is looked up and authorised on its own (there are
// far fewer alerts than encounters).
func (p *Portal) alertsInScope(c *fiber.Ctx, d *directory, names map[string]string, encs []*syncengine.Record, f domain.ConcernAlertFilter) ([]concernRow, error) {
	var byID map[string]*syncengine.Record
	if encs != nil {
		byID = make(map[string]*syncengine.Record, len(encs))
		for _, r := range encs {
			byID[string(r.ID)] = r
		}
	}
	alerts, err := p.store.ConcernAlerts(c.UserContext(), f)
	if err != nil {
		return nil, err
	}
	now := p.now()
	var out []concernRow
	for _, a := range alerts {
		// Not among the caller's live encounters (or none given): look it
		// up, so that deleting an encounter on a phone cannot hide its alert.
		r := byID[a.EncounterID]
		if r == nil {
			if r, err = p.teamRecord(c, syncengine.TypeEncounter, a.EncounterID, domain.VerbRead); errors.Is(err, errNotFound) {
				r, err = nil, nil
			} else if err != nil {
				return nil, err
			}
		}
		if r == nil || r.Erased != nil {
			continue
		}
		row := concernRow{ConcernAlert: a, E: toEncounter(r, d, names)}
		if a.Open() {
			row.Waiting = now.Sub(a.RaisedAt)
		} else {
			row.AckedBy = d.person(a.AckedBy)
		}
		out = append(out, row)
	}
	// Open first, the most severe and longest waiting at the top.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Open() != out[j].Open() {
			return out[i].Open()
		}
		if ri, rj := concernRank(out[i].Level), concernRank(out[j].Level); ri != rj {
			return ri > rj
		}
		if out[i].Open() {
			return out[i].RaisedAt.Before(out[j].RaisedAt)
		}
		return out[i].AckedAt.After(out[j].AckedAt)
	})
	return out, nil
}

// handleConcernList serves GET /portal/concerns: every open concern alert in
// scope, then those acknowledged, paged.
func (p *Portal) handleConcernList(c *fiber.Ctx) error {
	d, names, err := p.dirNames(c)
	if err != nil {
		return err
	}
	rows, err := p.alertsInScope(c, d, names, nil, domain.ConcernAlertFilter{})
	if err != nil {
		return err
	}
	open := 0
	for _, r := range rows {
		if r.Open() {
			open++
		}
	}
	pg, err := parsePage(c, len(rows))
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "concerns", "shown": pg.shown()}); err != nil {
		return err
	}
	return p.render(c, "concerns", "Safeguarding concerns", map[string]any{"Rows": rows[pg.From:pg.To], "Open": open, "Page": pg})
}

// handleConcernAcknowledge serves POST /portal/encounters/:id/acknowledge:
// a supervisor closes the encounter's open concern alerts with a note, which
// also cancels their escalation.
func (p *Portal) handleConcernAcknowledge(c *fiber.Ctx) error {
	r, err := p.teamRecord(c, syncengine.TypeEncounter, c.Params("id"), domain.VerbAcknowledge)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("note"))
	if note == "" {
		return invalid("Write what you have done or decided about this concern before acknowledging it.")
	}
	if utf8.RuneCountInString(note) > 2000 {
		return invalid("The note is too long (2,000 characters at most).")
	}
	n, err := p.store.AcknowledgeConcern(c.UserContext(), string(r.ID), sess(c).Person.ID, note)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionReview, string(r.ID), map[string]any{"type": r.Type, "concern": "acknowledged", "alerts": n}); err != nil {
		return err
	}
	done := "acknowledged"
	if n == 0 {
		done = "already-acknowledged"
	}
	return p.redirect(c, "/encounters/"+string(r.ID)+"?done="+done)
}
