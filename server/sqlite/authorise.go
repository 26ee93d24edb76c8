package sqlite

import (
	"encoding/json"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Admission (identity, clock, filing, policy) is the domain's, shared with
// every store (domain/admit.go); the applier answers its lookups inside the
// write transaction, through its record cache.

var (
	checkIdentity = domain.CheckIdentity
	checkClock    = domain.CheckClock
)

// admitLookup is the applier as admission's view of the store.
type admitLookup struct{ a *applier }

var _ domain.AdmitLookup = admitLookup{}

func (l admitLookup) Stored(id syncengine.RecordID) (*domain.Stored, error) {
	c, err := l.a.get(id)
	if err != nil {
		return nil, err
	}
	return stored(c), nil
}

func (l admitLookup) Actor(personID string) (*domain.Actor, error) { return l.a.actorOf(personID) }
func (l admitLookup) TeamExists(id string) (bool, error)           { return l.a.teamExists(id) }

func (l admitLookup) WasOnTeam(personID, team string) (bool, error) {
	var n int
	err := l.a.tx.QueryRowContext(l.a.ctx, `SELECT COUNT(*) FROM people_past_teams WHERE person_id = ? AND team_id = ?`, personID, team).Scan(&n)
	return n > 0, err
}

func stored(c *cachedRecord) *domain.Stored {
	return &domain.Stored{Rec: c.rec, Team: c.team, Service: c.service, YP: c.yp, Exists: c.exists}
}

// fileRecord says where rec is filed after a change (domain.FileStored).
func (a *applier) fileRecord(rec *syncengine.Record, prev *cachedRecord, byDevice bool, filed map[syncengine.RecordID]syncengine.Filing) (syncengine.Filing, error) {
	return domain.FileStored(admitLookup{a}, rec, stored(prev), byDevice, filed)
}

// admit runs every rule an applied changeset must pass before it is stored
// (domain.Admit).
func (a *applier) admit(who domain.Actor, cs *syncengine.Changeset, after []*syncengine.Record) error {
	return domain.Admit(admitLookup{a}, who, cs, after)
}

// actorOf is the server's view of a person named in a record (a consent
// decision-maker, an assignee): nil if the server does not know them.
// A person's scope is read from people, team_supervisors and services, all
// of which change the organisation's version, so it is kept with the rules'
// lookups (factsMemo) across transactions while the version holds: each of
// a week's requests looked up the same assignees and deciders again.
// Callers must not modify the Actor.
func (a *applier) actorOf(personID string) (*domain.Actor, error) {
	if personID == "" {
		return nil, nil
	}
	m, err := a.factsMemo(a.ctx)
	if err != nil {
		return nil, err
	}
	return memo(&m.actor, personID, func() (*domain.Actor, error) {
		return a.policy.Actor(personID, func(id string) (domain.Scope, error) {
			p, err := findPerson(a.ctx, a.tx, "id = ?", id)
			if err != nil {
				return domain.Scope{}, err
			}
			return scopeOf(a.ctx, a.tx, p)
		})
	})
}

// teamExists reports whether the organisation has the team.
func (a *applier) teamExists(id string) (bool, error) {
	return a.policy.TeamExists(id, func(id string) (bool, error) {
		var n int
		err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM teams WHERE id = ?`, id).Scan(&n)
		return n > 0, err
	})
}

// preloadFiled reads, in one query, the records css's referrals and
// follow-ups are filed by (their young person; a follow-up's referral when
// it names none) that the request does not touch itself: admission and
// commit file each changeset's records through them (domain.FileStored),
// and one query per record cost more than all of admission's own work. The
// references are taken from the stored records and from the changesets' own
// writes; any missed (a value an earlier changeset of the request wrote
// otherwise) is read by get as before.
func (a *applier) preloadFiled(css []*syncengine.Changeset) error {
	type refs struct{ typ, yp, referral string }
	by := map[syncengine.RecordID]*refs{}
	for _, cs := range css {
		for i := range cs.Ops {
			op := &cs.Ops[i]
			r := by[op.Record]
			if r == nil {
				r = &refs{}
				if c := a.cache[op.Record]; c != nil && c.rec != nil {
					r.typ, r.yp, r.referral = c.rec.Type, c.rec.String("young_person_id"), c.rec.String("referral_id")
				}
				by[op.Record] = r
			}
			switch {
			case op.Kind == syncengine.OpCreate && r.typ == "":
				r.typ = op.Type
			case op.Kind == syncengine.OpSet && op.Field == "young_person_id":
				r.yp, _ = syncengine.StringValue(op.Value)
			case op.Kind == syncengine.OpSet && op.Field == "referral_id":
				r.referral, _ = syncengine.StringValue(op.Value)
			}
		}
	}
	var ids []string
	seen := map[string]bool{}
	for _, r := range by {
		id := r.yp
		switch {
		case r.typ != syncengine.TypeReferral && r.typ != syncengine.TypeFollowUp:
			continue
		case id == "" && r.typ == syncengine.TypeFollowUp:
			id = r.referral
		}
		if id != "" && !seen[id] && a.cache[syncengine.RecordID(id)] == nil {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return a.preload(string(list), ids)
}
