package portal

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

type shift struct {
	Person, Team, Start, End string
}

type followUpRow struct {
	ID, KnownAs, YoungPersonID, Assignee, Kind string
	Due                                        time.Time
	Overdue                                    time.Duration
}

type conflictItem struct {
	Kind, ID, Label, Link string
	Fields                []string
}

// shiftsOn lists who works on a weekday, from people's stored hours
// ([{Weekday, Start, End}], as the directory keeps them).
func shiftsOn(d *directory, s domain.Scope, day time.Weekday) []shift {
	var out []shift
	for _, x := range d.workersIn(s) {
		var hours []struct {
			Weekday    time.Weekday
			Start, End string
		}
		if json.Unmarshal(x.Hours, &hours) != nil {
			continue
		}
		for _, h := range hours {
			if h.Weekday == day {
				out = append(out, shift{Person: x.Name, Team: d.team(x.TeamID), Start: h.Start, End: h.End})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start+out[i].Person < out[j].Start+out[j].Person })
	return out
}

// handleDashboard serves GET /portal/dashboard.
func (p *Portal) handleDashboard(c *fiber.Ctx) error {
	s := sess(c)
	d, err := p.directory(c.UserContext())
	if err != nil {
		return err
	}
	names, err := p.youngPeopleNames(c)
	if err != nil {
		return err
	}
	now := p.now().In(p.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, p.loc)
	// "Tonight" runs from noon to 6 the next morning: detached work is evening work.
	tonightFrom, tonightTo := today.Add(12*time.Hour), today.Add(30*time.Hour)
	if now.Hour() < 6 {
		tonightFrom, tonightTo = tonightFrom.AddDate(0, 0, -1), tonightTo.AddDate(0, 0, -1)
	}
	weekStart := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	weekEnd := weekStart.AddDate(0, 0, 7)

	encs, err := p.recordsInScope(c, syncengine.TypeEncounter)
	if err != nil {
		return err
	}
	var tonight, awaiting, concerns []encounter
	weekByDay := make([]int, 7)
	weekTotal := 0
	var conflicts []conflictItem
	for _, r := range encs {
		e := toEncounter(r, d, names)
		if !e.Started.Before(tonightFrom) && e.Started.Before(tonightTo) {
			tonight = append(tonight, e)
		}
		if !e.Started.Before(weekStart) && e.Started.Before(weekEnd) {
			weekByDay[int(e.Started.In(p.loc).Sub(weekStart).Hours()/24)%7]++
			weekTotal++
		}
		if e.ReviewStatus != "signed_off" { // phones may leave it unset: not yet reviewed
			awaiting = append(awaiting, e)
		}
		if e.Concern && e.Started.After(now.AddDate(0, 0, -14)) {
			concerns = append(concerns, e)
		}
		if cs := r.Conflicts(); len(cs) > 0 {
			conflicts = append(conflicts, conflictItem{Kind: "Encounter", ID: e.ID, Label: e.Area + ", " + e.Started.In(p.loc).Format("Mon 2 Jan 15:04"),
				Link: "/encounters/" + e.ID, Fields: conflictFields(cs)})
		}
	}
	sort.Slice(tonight, func(i, j int) bool { return tonight[i].Started.Before(tonight[j].Started) })
	sort.Slice(awaiting, func(i, j int) bool { return awaiting[i].Started.Before(awaiting[j].Started) })
	sort.Slice(concerns, func(i, j int) bool {
		ri, rj := concernRank[concerns[i].ConcernLevel], concernRank[concerns[j].ConcernLevel]
		if ri != rj {
			return ri > rj
		}
		return concerns[i].Started.After(concerns[j].Started)
	})

	refs, err := p.recordsInScope(c, syncengine.TypeReferral)
	if err != nil {
		return err
	}
	statusCounts := make([]int, len(referralStatuses))
	var waiting []referralRow
	for _, r := range refs {
		x := p.toReferral(r, d, names)
		if i := slices.Index(referralStatuses, x.Status); i >= 0 {
			statusCounts[i]++
		}
		if x.Status == "submitted" {
			waiting = append(waiting, x)
		}
		if cs := r.Conflicts(); len(cs) > 0 {
			conflicts = append(conflicts, conflictItem{Kind: "Referral", ID: x.ID, Label: x.KnownAs + " to " + x.Service, Link: "/referrals/" + x.ID, Fields: conflictFields(cs)})
		}
	}
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].Waiting > waiting[j].Waiting })

	fus, err := p.recordsInScope(c, syncengine.TypeFollowUp)
	if err != nil {
		return err
	}
	var overdue []followUpRow
	for _, r := range fus {
		due := r.Time("due_at")
		if str(r, "status") == "open" && !due.IsZero() && due.Before(now) {
			yp := str(r, "young_person_id")
			overdue = append(overdue, followUpRow{ID: string(r.ID), YoungPersonID: yp, KnownAs: names[yp], Assignee: d.person(str(r, "assignee")),
				Kind: str(r, "kind"), Due: due, Overdue: now.Sub(due)})
		}
	}
	sort.Slice(overdue, func(i, j int) bool { return overdue[i].Overdue > overdue[j].Overdue })

	yps, err := p.recordsInScope(c, syncengine.TypeYoungPerson)
	if err != nil {
		return err
	}
	holds := 0
	for _, r := range yps {
		if r.Bool("safeguarding_hold") {
			holds++
		}
		if cs := r.Conflicts(); len(cs) > 0 {
			conflicts = append(conflicts, conflictItem{Kind: "Young person", ID: string(r.ID), Label: str(r, "known_as"), Link: "/young-people/" + string(r.ID), Fields: conflictFields(cs)})
		}
	}
	quar, err := p.quarantineInScope(c, d, 200)
	if err != nil {
		return err
	}
	if err := p.audit(c, domain.ActionRead, "", map[string]any{"page": "dashboard"}); err != nil {
		return err
	}
	days := make([]string, 7)
	for i := range days {
		days[i] = weekStart.AddDate(0, 0, i).Format("Mon 2")
	}
	return p.render(c, "dashboard", "Dashboard", map[string]any{
		"Scope": s.Scope, "Today": today, "Tonight": tonight, "Shifts": shiftsOn(d, s.Scope, today.Weekday()),
		"WeekStart": weekStart, "WeekDays": days, "WeekByDay": weekByDay, "WeekTotal": weekTotal,
		"Awaiting": first(awaiting, 10), "AwaitingCount": len(awaiting),
		"Statuses": referralStatuses, "StatusCounts": statusCounts, "Waiting": first(waiting, 10), "WaitingCount": len(waiting),
		"Overdue": first(overdue, 10), "OverdueCount": len(overdue),
		"Concerns": first(concerns, 10), "ConcernCount": len(concerns), "Holds": holds,
		"Quarantine": first(quar, 5), "QuarantineCount": len(quar),
		"Conflicts": first(conflicts, 15), "ConflictCount": len(conflicts),
	})
}

func conflictFields(cs []syncengine.Conflict) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.Field != syncengine.DeletedField {
			out = append(out, c.Field)
		}
	}
	return out
}

func first[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}
