package sqlite

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// Translating a pushed changeset into the policy's terms: each touched
// record becomes a domain.Target described by what the server holds (the
// team and service it filed the record under, its stored lifecycle state,
// the people it knows), and each op one or more domain.Actions. The decision
// is domain.Authorize's alone.

// checkIdentity refuses changesets whose replica is not bound to the device
// or whose author is not the device's person. It runs before anything is
// looked up or stored: a forged replica id must not be able to reach, let
// alone overwrite, another device's log or quarantine entries.
func checkIdentity(who domain.Actor, css []*syncengine.Changeset) error {
	for _, cs := range css {
		if !slices.Contains(who.Replicas, cs.Replica.String()) {
			return domain.Errorf(domain.EFORBIDDEN, "sync", "changeset %s/%d was not written by this device's replica", cs.Replica, cs.Start)
		}
		if cs.Author != who.PersonID {
			return domain.Errorf(domain.EFORBIDDEN, "sync", "changeset %s/%d names another person as its author", cs.Replica, cs.Start)
		}
	}
	return nil
}

// checkClock refuses a changeset stamped further ahead of the server's clock
// than an honest phone's clock drifts: register values are shown newest
// first, so a phone set to 2100 would otherwise win every field it writes.
func checkClock(cs *syncengine.Changeset, now time.Time) error {
	if limit := syncengine.MakeTimestamp(now.Add(syncengine.MaxSkew), 0xffff); cs.Time > limit {
		return domain.Errorf(domain.EINVALID, "check clock",
			"the phone's clock is %s ahead of the server's: set the phone's date and time, then save again",
			cs.Time.Time().Sub(now).Round(time.Minute))
	}
	return nil
}

// fileRecord says where rec is filed after a change. A device's write keeps
// a record in the team the server filed it under (own); only the server's
// own writers (transfers, imports) file a young person or an encounter by
// its team_id field. Erased records have lost their fields and keep their
// filing.
func (a *applier) fileRecord(rec *syncengine.Record, prev *cachedRecord, byDevice bool, filed map[syncengine.RecordID]syncengine.Filing) (syncengine.Filing, error) {
	if rec.Erased != nil && prev.exists {
		return syncengine.Filing{Team: prev.team, Service: prev.service, YoungPerson: prev.yp}, nil
	}
	own := ""
	if prev.exists && byDevice {
		own = prev.team
	}
	var err error
	f := syncengine.FileRecord(rec, own, func(id syncengine.RecordID) string {
		if f, ok := filed[id]; ok {
			return f.Team
		}
		c, e := a.get(id)
		if e != nil {
			err = e
			return ""
		}
		return c.team
	})
	return f, err
}

// fileOrder is the order filings are derived in, so a referral created with
// its young person in one changeset follows the young person.
var fileOrder = map[string]int{syncengine.TypeReferral: 1, syncengine.TypeFollowUp: 2}

// actorOf is the server's view of a person named in a record (a consent
// decision-maker, an assignee): nil if the server does not know them.
func (a *applier) actorOf(personID string) (*domain.Actor, error) {
	if personID == "" {
		return nil, nil
	}
	if act, ok := a.actors[personID]; ok {
		return act, nil
	}
	var act *domain.Actor
	p, err := findPerson(a.ctx, a.tx, "id = ?", personID)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
	case err != nil:
		return nil, err
	default:
		s, err := scopeOf(a.ctx, a.tx, p)
		if err != nil {
			return nil, err
		}
		x := domain.ActorOf(s, nil)
		act = &x
	}
	if a.actors == nil {
		a.actors = map[string]*domain.Actor{}
	}
	a.actors[personID] = act
	return act, nil
}

// teamExists reports whether the organisation has the team.
func (a *applier) teamExists(id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	if ok, seen := a.teams[id]; seen {
		return ok, nil
	}
	var n int
	if err := a.tx.QueryRowContext(a.ctx, `SELECT COUNT(*) FROM teams WHERE id = ?`, id).Scan(&n); err != nil {
		return false, err
	}
	if a.teams == nil {
		a.teams = map[string]bool{}
	}
	a.teams[id] = n > 0
	return n > 0, nil
}

// admit runs every rule an applied changeset written by who must pass
// before it is stored: the policy (authorise), then the engine's domain rules
// (validation, lifecycle graph, safeguarding hold), both against the records
// as the server holds them now. Quarantine release runs it for the original
// pusher, so a release can never grant more than the pusher had.
func (a *applier) admit(who domain.Actor, cs *syncengine.Changeset, after []*syncengine.Record) error {
	before := map[syncengine.RecordID]*cachedRecord{}
	beforeRecs := map[syncengine.RecordID]*syncengine.Record{}
	for _, d := range cs.Deps {
		c, err := a.get(d.Record)
		if err != nil {
			return err
		}
		before[d.Record] = c
		beforeRecs[d.Record] = c.rec
	}
	if err := a.authorise(who, cs, before, after); err != nil {
		return err
	}
	return syncengine.CheckChangeset(cs, beforeRecs, after)
}

// authorise decides whether who may make the change cs makes, given the
// touched records as the server holds them (before) and as they would be.
func (a *applier) authorise(who domain.Actor, cs *syncengine.Changeset, before map[syncengine.RecordID]*cachedRecord, after []*syncengine.Record) error {
	ordered := slices.Clone(after)
	slices.SortStableFunc(ordered, func(x, y *syncengine.Record) int { return fileOrder[x.Type] - fileOrder[y.Type] })
	filed := map[syncengine.RecordID]syncengine.Filing{}
	for _, r := range ordered {
		f, err := a.fileRecord(r, before[r.ID], true, filed)
		if err != nil {
			return err
		}
		filed[r.ID] = f
	}
	ids := cs.OpIDs()
	opsOf := map[syncengine.RecordID][]int{} // op indexes by record, in order
	for i := range cs.Ops {
		opsOf[cs.Ops[i].Record] = append(opsOf[cs.Ops[i].Record], i)
	}
	for _, r := range ordered {
		t, err := a.target(cs, opsOf[r.ID], before[r.ID], r, filed[r.ID])
		if err != nil {
			return err
		}
		for _, act := range actionsOf(cs, opsOf[r.ID], ids, before[r.ID], r) {
			if err := domain.Authorize(who, act, t); err != nil {
				return domain.Errorf(domain.ErrorCode(err), "authorise changeset", "record %s: %s", r.ID, domain.ErrorMessage(err))
			}
		}
	}
	return nil
}

// target describes r as the server holds it, with what the change would
// make of its filing, consent and assignee.
func (a *applier) target(cs *syncengine.Changeset, ops []int, b *cachedRecord, r *syncengine.Record, f syncengine.Filing) (domain.Target, error) {
	t := domain.Target{Type: r.Type, Exists: b.exists, Team: b.team, Service: b.service}
	if b.exists && b.rec != nil && b.rec.Type != "" {
		t.Type = b.rec.Type
		if t.Type == syncengine.TypeReferral {
			t.Status = b.rec.String("status")
		}
	}
	if !b.exists {
		ok, err := a.teamExists(f.Team)
		if err != nil {
			return t, err
		}
		if t.Team = ""; ok {
			t.Team = f.Team
		}
	} else if f.Team != b.team {
		t.NewTeam = f.Team
	}
	wrote := func(field string) bool {
		return slices.ContainsFunc(ops, func(i int) bool { return cs.Ops[i].Field == field })
	}
	// A team_id field that disagrees with where the record is filed would
	// be a move (or a lie about it): refused like a move.
	if wrote("team_id") && r.Erased == nil {
		if v := r.String("team_id"); v != f.Team {
			t.NewTeam = v
		}
	}
	if r.Erased != nil {
		return t, nil
	}
	var err error
	switch t.Type {
	case syncengine.TypeReferral:
		t.Consent = r.String("consent")
		t.ConsentJustified = r.String("consent_justification") != ""
		t.NewConsentDecision = wrote("consent")
		// The decider matters only where sharing is decided (the policy's
		// consent preconditions); other writes skip the lookup.
		if wrote("status") || wrote("service_id") || wrote("consent") || wrote("consent_decided_by") || wrote("consent_justification") {
			if t.ConsentDecider, err = a.actorOf(r.String("consent_decided_by")); err != nil {
				return t, err
			}
		}
	case syncengine.TypeFollowUp:
		if wrote("assignee") {
			if t.Assignee, err = a.actorOf(r.String("assignee")); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// actionsOf lists what cs's ops on record r (b: as it was) do, without repeats.
// Status writes on a referral are lifecycle transitions from every value the
// server holds at that point: a write that references nothing, or values the
// server never had, still moves from what is there.
func actionsOf(cs *syncengine.Changeset, ops []int, ids []syncengine.ID, b *cachedRecord, r *syncengine.Record) []domain.Action {
	var acts []domain.Action
	add := func(a domain.Action) {
		if !slices.Contains(acts, a) {
			acts = append(acts, a)
		}
	}
	typ := r.Type
	signedOff := b.exists && b.rec != nil && b.rec.String("review_status") == "signed_off"
	var status []syncengine.RegValue
	if b.exists && b.rec != nil {
		if b.rec.Type != "" {
			typ = b.rec.Type
		}
		if f := b.rec.Fields["status"]; f != nil {
			status = slices.Clone(f.Values)
		}
	}
	for _, i := range ops {
		op := cs.Ops[i]
		switch op.Kind {
		case syncengine.OpCreate:
			if !b.exists {
				add(domain.Action{Verb: domain.VerbCreate})
			}
		case syncengine.OpErase, syncengine.OpRedacted:
			add(domain.Action{Verb: domain.VerbErase})
		case syncengine.OpOmitted:
		case syncengine.OpSet:
			var v any
			_ = json.Unmarshal(op.Value, &v)
			switch {
			case op.Field == syncengine.DeletedField && v == true:
				add(domain.Action{Verb: domain.VerbDelete})
			case op.Field == syncengine.DeletedField && b.exists && b.rec != nil && b.rec.Deleted():
				add(domain.Action{Verb: domain.VerbUndelete})
			case op.Field == "status" && typ == syncengine.TypeReferral:
				to, _ := v.(string)
				froms := []string{}
				for _, sv := range status {
					var s string
					_ = json.Unmarshal(sv.Value, &s)
					if !slices.Contains(froms, s) {
						froms = append(froms, s)
					}
				}
				if len(froms) == 0 {
					froms = append(froms, "")
				}
				for _, from := range froms {
					if from != to {
						add(domain.Action{Verb: domain.VerbTransition, From: from, To: to})
					}
				}
				status = slices.DeleteFunc(status, func(sv syncengine.RegValue) bool { return slices.Contains(op.Refs, sv.ID) })
				status = append(status, syncengine.RegValue{ID: ids[i], Value: op.Value})
			case typ == syncengine.TypeEncounter && (op.Field == "signed_off_by" || op.Field == "review_comment" || op.Field == "review_status" && (v == "signed_off" || signedOff)):
				// Signing off, and reopening what a supervisor signed off.
				add(domain.Action{Verb: domain.VerbSignOff})
			default:
				add(domain.Action{Verb: domain.VerbSet, Field: op.Field})
			}
		default:
			add(domain.Action{Verb: domain.VerbSet, Field: op.Field})
		}
	}
	return acts
}
