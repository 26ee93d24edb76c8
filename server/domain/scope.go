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
