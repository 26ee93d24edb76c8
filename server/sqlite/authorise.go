package sqlite

import (
	"slices"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// scopeCols derives the scope columns of a record state. Erased records have
// lost their fields, so they keep the columns they had.
func scopeCols(r *syncengine.Record, prev *cachedRecord) (team, service, yp string) {
	if r.Erased != nil && prev != nil {
		return prev.team, prev.service, prev.yp
	}
	team = r.String("team_id")
	if r.Type == syncengine.TypeReferral && r.String("status") != "draft" {
		service = r.String("service_id")
	}
	switch r.Type {
	case syncengine.TypeReferral, syncengine.TypeFollowUp:
		yp = r.String("young_person_id")
	case syncengine.TypeYoungPerson:
		yp = string(r.ID)
	}
	return team, service, yp
}

func forbidden(format string, args ...any) error {
	return domain.Errorf(domain.EFORBIDDEN, "authorise changeset", format, args...)
}

// authorise decides whether the device may push cs, given the touched
// records before and after it.
func authorise(dev domain.Device, scope domain.Scope, cs *syncengine.Changeset, before map[syncengine.RecordID]*cachedRecord, after []*syncengine.Record) error {
	if dev.ReplicaID != "" && cs.Replica.String() != dev.ReplicaID {
		return forbidden("changeset belongs to another replica")
	}
	if cs.Author != scope.PersonID {
		return forbidden("changeset author is not the device's owner")
	}
	privileged := scope.Role == domain.RoleSupervisor || scope.Role == domain.RoleAdmin
	for _, op := range cs.Ops {
		switch {
		case op.Kind == syncengine.OpErase && !privileged:
			return forbidden("only a supervisor may erase a record")
		case op.Kind == syncengine.OpSet && op.Field == syncengine.DeletedField && string(op.Value) == "false" && !privileged:
			return forbidden("only a supervisor may restore a deleted record")
		}
	}
	if scope.Practitioner() {
		for _, op := range cs.Ops {
			if op.Kind != syncengine.OpSet || !slices.Contains([]string{"status", "outcome", "decline_reason"}, op.Field) {
				return forbidden("a service may only change a referral's status, outcome and decline reason")
			}
		}
		for _, r := range after {
			b := before[r.ID]
			if !b.exists || b.rec.Type != syncengine.TypeReferral || b.service != scope.ServiceID {
				return forbidden("record %s is not a referral addressed to this service", r.ID)
			}
		}
		return nil
	}
	for _, r := range after {
		b := before[r.ID]
		if b.exists {
			if !scope.HasTeam(b.team) {
				return forbidden("record %s belongs to a team outside this device's scope", r.ID)
			}
			continue // moving a record in scope to another team is a handover, allowed
		}
		team, _, _ := scopeCols(r, nil)
		if !scope.HasTeam(team) {
			return forbidden("new record %s is for a team outside this device's scope", r.ID)
		}
	}
	return nil
}
