package sqlite

import (
	"context"
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

// ScopeOf computes a person's current scope.
func (db *DB) ScopeOf(ctx context.Context, p Person) (Scope, error) {
	var s Scope
	err := db.view(ctx, func(tx *Tx) (err error) { s, err = scopeOf(ctx, tx, p); return err })
	return s, err
}

func scopeOf(ctx context.Context, tx *Tx, p Person) (Scope, error) {
	s := Scope{Role: p.Role, PersonID: p.ID}
	switch p.Role {
	case RoleAdmin:
		s.All = true
	case RolePractitioner:
		s.ServiceID = p.ServiceID
		if p.ServiceID != "" {
			svc, err := findService(ctx, tx, p.ServiceID)
			if err != nil {
				return s, err
			}
			s.SharedFields = slices.Clone(svc.SharedFields)
			sort.Strings(s.SharedFields)
		}
	case RoleSupervisor:
		teams, err := supervisedTeams(ctx, tx, p.ID)
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

// Contains reports whether a record with these scope columns is visible.
func (s Scope) Contains(typ, team, service string) bool {
	if s.Practitioner() {
		return typ == "referral" && service != "" && service == s.ServiceID
	}
	return s.HasTeam(team)
}

// sqlFilter returns a WHERE fragment over records r and its arguments.
func (s Scope) sqlFilter() (string, []any) {
	switch {
	case s.All:
		return "1", nil
	case s.Practitioner():
		return "r.type = 'referral' AND r.service_id = ?", []any{s.ServiceID}
	case len(s.Teams) == 0:
		return "0", nil
	}
	args := make([]any, len(s.Teams))
	for i, t := range s.Teams {
		args[i] = t
	}
	return "r.team_id IN (?" + strings.Repeat(",?", len(s.Teams)-1) + ")", args
}

// projection is the fields a practitioner receives: the agreement plus what
// they need to act on the referral.
func (s Scope) projection() []string {
	f := append([]string{"service_id", "status", "decline_reason", "submitted_at"}, s.SharedFields...)
	sort.Strings(f)
	return slices.Compact(f)
}
