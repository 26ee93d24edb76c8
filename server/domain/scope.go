package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
)

// Scope is what a device may read and write.
//   - worker: their team's records;
//   - supervisor: their own team and the teams they supervise;
//   - practitioner: referrals addressed to their service (submitted, not
//     drafts), projected to the service's shared fields; they may only set
//     the referral's status, outcome and decline reason;
//   - admin: everything.
type Scope struct {
	Role         string
	PersonID     string
	All          bool
	Teams        []string
	ServiceID    string
	SharedFields []string
}

// Practitioner reports whether the scope is a service's (snapshot-only, projected).
func (s Scope) Practitioner() bool { return s.Role == RolePractitioner }

// Tag is a short digest of the scope: when it changes (a worker moves team, an
// agreement changes) the device's cursor no longer matches and it is reset.
func (s Scope) Tag() string {
	h := sha256.New()
	h.Write([]byte(s.Role + "|" + strings.Join(s.Teams, ",") + "|" + s.ServiceID + "|" + strings.Join(s.SharedFields, ",")))
	if s.All {
		h.Write([]byte("|all"))
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// HasTeam reports whether records of team are in scope (not for practitioners).
func (s Scope) HasTeam(team string) bool {
	if s.All {
		return true
	}
	return team != "" && slices.Contains(s.Teams, team)
}

// Contains reports whether a record with these scope columns (where the
// server filed it) is visible: the policy's read rule.
func (s Scope) Contains(typ, team, service string) bool {
	return Authorize(ActorOf(s, nil), Action{Verb: VerbRead}, Target{Type: typ, Team: team, Service: service, Exists: true}) == nil
}

// Projection is the fields a practitioner receives: the agreement plus what
// they need to act on the referral.
func (s Scope) Projection() []string {
	f := append([]string{"service_id", "status", "decline_reason", "submitted_at"}, s.SharedFields...)
	sort.Strings(f)
	return slices.Compact(f)
}

// ScopeKey names where a record is filed, as scope events record it: its
// team, its service, or both.
func ScopeKey(team, service string) string {
	switch {
	case team != "" && service != "":
		return team + "|svc:" + service
	case service != "":
		return "svc:" + service
	}
	return team
}

// AppendScopeKeys adds the live-channel keys ("team:x", "svc:y") of a
// filing to keys, once each.
func AppendScopeKeys(keys []string, team, service string) []string {
	if team != "" && !slices.Contains(keys, "team:"+team) {
		keys = append(keys, "team:"+team)
	}
	if service != "" && !slices.Contains(keys, "svc:"+service) {
		keys = append(keys, "svc:"+service)
	}
	return keys
}

// ScopeFor computes p's scope from what the store holds about them: the
// teams they supervise and their service's shared fields, each read only
// when the role needs it.
func ScopeFor(p Person, supervised func() ([]string, error), sharedFields func() ([]string, error)) (Scope, error) {
	s := Scope{Role: p.Role, PersonID: p.ID}
	switch p.Role {
	case RoleAdmin:
		s.All = true
	case RolePractitioner:
		s.ServiceID = p.ServiceID
		if p.ServiceID != "" {
			fields, err := sharedFields()
			if err != nil {
				return s, err
			}
			s.SharedFields = slices.Clone(fields)
			sort.Strings(s.SharedFields)
		}
	case RoleSupervisor:
		teams, err := supervised()
		if err != nil {
			return s, err
		}
		if p.TeamID != "" && !slices.Contains(teams, p.TeamID) {
			teams = append(teams, p.TeamID)
		}
		sort.Strings(teams)
		s.Teams = teams
	default:
		if p.TeamID != "" {
			s.Teams = []string{p.TeamID}
		}
	}
	return s, nil
}
