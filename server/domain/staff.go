package domain

import (
	"encoding/json"
	"net/mail"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// WorkingHours is one weekly window, as people's and services' hours are
// stored (a JSON array of them; server/push reads the same shape).
type WorkingHours struct {
	Weekday    time.Weekday
	Start, End string // "15:04", Start < End, same day
}

// Org is what validating an admin's edit needs to know of the organisation.
type Org struct {
	Teams    []Team
	Services []Service
	People   []Person
}

func (o Org) team(id string) bool {
	return slices.ContainsFunc(o.Teams, func(t Team) bool { return t.ID == id })
}

func (o Org) service(id string) bool {
	return slices.ContainsFunc(o.Services, func(s Service) bool { return s.ID == id })
}

// invalidf is a refusal of one form field (named for the reader of the code;
// the message says which field to the person).
func invalidf(field, format string, args ...any) error {
	return Errorf(EINVALID, "validate "+field, format, args...)
}

// ValidatePerson checks an admin's new or edited person against the
// organisation: nil, or an EINVALID/ECONFLICT error whose message is shown
// on the form.
func ValidatePerson(p Person, o Org) error {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return invalidf("name", "enter the person's name")
	case len(p.Name) > 120:
		return invalidf("name", "the name is longer than 120 characters")
	}
	switch p.Role {
	case RoleWorker, RoleSupervisor, RolePractitioner, RoleAdmin:
	default:
		return invalidf("role", "choose a role: worker, supervisor, practitioner or admin")
	}
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
			return invalidf("email", "%q is not an e-mail address", p.Email)
		}
		for _, q := range o.People {
			if q.ID != p.ID && strings.EqualFold(q.Email, p.Email) {
				return Errorf(ECONFLICT, "validate email", "%s is already the e-mail address of another person", p.Email)
			}
		}
	} else if p.Role != RoleWorker {
		return invalidf("email", "a %s signs in to the portal and needs an e-mail address", p.Role)
	}
	if p.TeamID != "" && !o.team(p.TeamID) {
		return invalidf("team_id", "there is no team %q", p.TeamID)
	}
	for _, t := range p.Supervises {
		if !o.team(t) {
			return invalidf("supervises", "there is no team %q to supervise", t)
		}
	}
	switch p.Role {
	case RoleWorker:
		if p.TeamID == "" {
			return invalidf("team_id", "a worker belongs to a team; choose one")
		}
		if len(p.Supervises) > 0 {
			return invalidf("supervises", "only a supervisor supervises teams")
		}
	case RoleSupervisor:
		if p.TeamID == "" && len(p.Supervises) == 0 {
			return invalidf("supervises", "a supervisor supervises at least one team; choose their team or the teams they supervise")
		}
	case RolePractitioner:
		if p.ServiceID == "" || !o.service(p.ServiceID) {
			return invalidf("service_id", "a practitioner works for a service; choose one")
		}
	}
	if p.ServiceID != "" && !o.service(p.ServiceID) {
		return invalidf("service_id", "there is no service %q", p.ServiceID)
	}
	return ValidateHours(p.TZ, p.Hours)
}

// ValidateHours checks a time zone and stored weekly hours: each window
// starts before it ends, and windows on the same day do not overlap.
func ValidateHours(tz string, raw json.RawMessage) error {
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			return invalidf("tz", "%q is not a time zone (for example Europe/London)", tz)
		}
	}
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return nil
	}
	var hs []WorkingHours
	if err := json.Unmarshal(raw, &hs); err != nil {
		return invalidf("hours", "the working hours could not be read")
	}
	byDay := map[time.Weekday][][2]string{}
	for _, h := range hs {
		if h.Weekday < time.Sunday || h.Weekday > time.Saturday {
			return invalidf("hours", "day %d is not a day of the week", h.Weekday)
		}
		s, err1 := time.Parse("15:04", h.Start)
		e, err2 := time.Parse("15:04", h.End)
		if err1 != nil || err2 != nil {
			return invalidf("hours", "%s: write times as HH:MM", h.Weekday.String())
		}
		if !s.Before(e) {
			return invalidf("hours", "%s: %s–%s ends before it starts", h.Weekday.String(), h.Start, h.End)
		}
		byDay[h.Weekday] = append(byDay[h.Weekday], [2]string{h.Start, h.End})
	}
	for day, ws := range byDay {
		sort.Slice(ws, func(i, j int) bool { return ws[i][0] < ws[j][0] })
		for i := 1; i < len(ws); i++ {
			if ws[i][0] < ws[i-1][1] {
				return invalidf("hours", "%s: %s–%s overlaps %s–%s", day.String(), ws[i-1][0], ws[i-1][1], ws[i][0], ws[i][1])
			}
		}
	}
	return nil
}

// ValidateTeam checks a new or edited team.
func ValidateTeam(t Team, areas []Area, o Org) error {
	switch {
	case strings.TrimSpace(t.Name) == "":
		return invalidf("name", "enter the team's name")
	case !slices.ContainsFunc(areas, func(a Area) bool { return a.ID == t.AreaID }):
		return invalidf("area_id", "choose the team's area")
	}
	for _, x := range o.Teams {
		if x.ID != t.ID && strings.EqualFold(x.Name, t.Name) {
			return Errorf(ECONFLICT, "validate", "there is already a team called %s", x.Name)
		}
	}
	return nil
}

// ValidateService checks a service and its data-sharing agreement: every
// shared field must be one the schema lets a service be sent.
func ValidateService(s Service) error {
	if strings.TrimSpace(s.Name) == "" {
		return invalidf("name", "enter the service's name")
	}
	allowed := SharableFields()
	for _, f := range s.SharedFields {
		if !slices.Contains(allowed, f) {
			return invalidf("shared_fields", "the agreement names %q, which is not a field a service can be sent", f)
		}
	}
	return ValidateHours(s.TZ, s.Hours)
}

// SharableFields are the referral and young-person fields a data-sharing
// agreement may name (the schema's list for a service's shared_fields).
func SharableFields() []string {
	return slices.Clone(sharable)
}

// sharable is read from the schema's validate tag on Service.SharedFields,
// the one list, so the form's checkboxes cannot drift from what sync accepts.
var sharable = func() []string {
	f, ok := reflect.TypeOf(syncengine.Service{}).FieldByName("SharedFields")
	if !ok {
		panic("syncengine.Service has no SharedFields")
	}
	_, list, ok := strings.Cut(f.Tag.Get("validate"), "oneof=")
	if !ok {
		panic("syncengine.Service.SharedFields has no oneof list")
	}
	list, _, _ = strings.Cut(list, ",")
	return strings.Fields(list)
}()
