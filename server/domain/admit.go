package domain

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Admission of a pushed changeset, shared by every store: translating it
// into the policy's terms (each touched record a Target described by what
// the server holds, each op one or more Actions) and filing the records it
// changes. The decision is Authorize's alone; a store only answers the
// lookups, inside its own transaction.

// Stored is a record as the server holds it, with where it is filed.
type Stored struct {
	Rec               *syncengine.Record // nil: does not exist (or has no state)
	Team, Service, YP string
	Exists            bool
}

// AdmitLookup is what admission reads from the store, in the transaction
// that will store the changeset.
type AdmitLookup interface {
	// Stored is the record as held now (Exists false if it is not).
	Stored(id syncengine.RecordID) (*Stored, error)
	// Actor is the server's view of a person named in a record (a consent
	// decision-maker, an assignee): nil if the server does not know them.
	Actor(personID string) (*Actor, error)
	// TeamExists reports whether the organisation has the team.
	TeamExists(id string) (bool, error)
	// WasOnTeam reports whether the person has left the team: moved to
	// another, or stopped supervising it.
	WasOnTeam(personID, team string) (bool, error)
}

// CheckIdentity refuses changesets whose replica is not bound to the device
// or whose author is not the device's person. It runs before anything is
// looked up or stored: a forged replica id must not be able to reach, let
// alone overwrite, another device's log or quarantine entries.
func CheckIdentity(who Actor, css []*syncengine.Changeset) error {
	for _, cs := range css {
		if !slices.Contains(who.Replicas, cs.Replica.String()) {
			return Errorf(EFORBIDDEN, "sync", "changeset %s/%d was not written by this device's replica", cs.Replica, cs.Start)
		}
		if cs.Author != who.PersonID {
			return Errorf(EFORBIDDEN, "sync", "changeset %s/%d names another person as its author", cs.Replica, cs.Start)
		}
	}
	return nil
}

// CheckClock refuses a changeset stamped further ahead of the server's clock
// than an honest phone's clock drifts: register values are shown newest
// first, so a phone set to 2100 would otherwise win every field it writes.
func CheckClock(cs *syncengine.Changeset, now time.Time) error {
	if limit := syncengine.MakeTimestamp(now.Add(syncengine.MaxSkew), 0xffff); cs.Time > limit {
		return Errorf(EINVALID, "check clock",
			"the phone's clock is %s ahead of the server's: set the phone's date and time, then save again",
			cs.Time.Time().Sub(now).Round(time.Minute))
	}
	return nil
}

// FileStored says where rec is filed after a change. A device's write keeps
// a record in the team the server filed it under (own); only the server's
// own writers (transfers, imports) file a young person or an encounter by
// its team_id field. Erased records have lost their fields and keep their
// filing.
func FileStored(l AdmitLookup, rec *syncengine.Record, prev *Stored, byDevice bool, filed map[syncengine.RecordID]syncengine.Filing) (syncengine.Filing, error) {
	if rec.Erased != nil && prev.Exists {
		return syncengine.Filing{Team: prev.Team, Service: prev.Service, YoungPerson: prev.YP}, nil
	}
	own := ""
	if prev.Exists && byDevice {
		own = prev.Team
	}
	var err error
	f := syncengine.FileRecord(rec, own, func(id syncengine.RecordID) string {
		if f, ok := filed[id]; ok {
			return f.Team
		}
		c, e := l.Stored(id)
		if e != nil {
			err = e
			return ""
		}
		return c.Team
	})
	return f, err
}

// fileOrder is the order filings are derived in, so a referral created with
// its young person in one changeset follows the young person.
var fileOrder = map[string]int{syncengine.TypeReferral: 1, syncengine.TypeFollowUp: 2}

// Admit runs every rule an applied changeset written by who must pass
// before it is stored: the policy (authorise), then the engine's domain rules
// (validation, lifecycle graph, safeguarding hold), both against the records
// as the server holds them now. Quarantine release runs it for the original
// pusher, so a release can never grant more than the pusher had.
func Admit(l AdmitLookup, who Actor, cs *syncengine.Changeset, after []*syncengine.Record) error {
	before := map[syncengine.RecordID]*Stored{}
	beforeRecs := map[syncengine.RecordID]*syncengine.Record{}
	for _, d := range cs.Deps {
		c, err := l.Stored(d.Record)
		if err != nil {
			return err
		}
		before[d.Record] = c
		beforeRecs[d.Record] = c.Rec
	}
	if err := authoriseChangeset(l, who, cs, before, after); err != nil {
		return err
	}
	return syncengine.CheckChangeset(cs, beforeRecs, after)
}

// authorise decides whether who may make the change cs makes, given the
// touched records as the server holds them (before) and as they would be.
func authoriseChangeset(l AdmitLookup, who Actor, cs *syncengine.Changeset, before map[syncengine.RecordID]*Stored, after []*syncengine.Record) error {
	ordered := slices.Clone(after)
	slices.SortStableFunc(ordered, func(x, y *syncengine.Record) int { return fileOrder[x.Type] - fileOrder[y.Type] })
	filed := map[syncengine.RecordID]syncengine.Filing{}
	for _, r := range ordered {
		f, err := FileStored(l, r, before[r.ID], true, filed)
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
	// The actions are listed into a buffer on the stack: a list per record
	// grown op by op was half of admission's allocation.
	var buf [16]Action
	for _, r := range ordered {
		t, err := target(l, cs, opsOf[r.ID], before[r.ID], r, filed[r.ID])
		if err != nil {
			return err
		}
		for _, act := range appendActions(buf[:0], cs, opsOf[r.ID], ids, before[r.ID], r) {
			if err := Authorize(who, act, t); err != nil {
				return Errorf(ErrorCode(err), "authorise changeset", "record %s: %s", r.ID, ErrorMessage(err))
			}
		}
	}
	return nil
}

// target describes r as the server holds it, with what the change would
// make of its filing, consent and assignee.
func target(l AdmitLookup, cs *syncengine.Changeset, ops []int, b *Stored, r *syncengine.Record, f syncengine.Filing) (Target, error) {
	t := Target{Type: r.Type, Exists: b.Exists, Team: b.Team, Service: b.Service}
	if b.Exists && b.Rec != nil && b.Rec.Type != "" {
		t.Type = b.Rec.Type
		if t.Type == syncengine.TypeReferral {
			t.Status = b.Rec.String("status")
		}
	}
	if !b.Exists {
		ok, err := l.TeamExists(f.Team)
		if err != nil {
			return t, err
		}
		if t.Team = ""; ok {
			t.Team = f.Team
		}
	} else if f.Team != b.Team {
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
			// The decider is whoever wrote the decision, as the server
			// authenticated them (a register value's author is its
			// changeset's, checked against the device): a worker writing
			// their supervisor's id into consent_decided_by decides nothing.
			if dec := r.String("consent_decided_by"); dec != "" && r.Author("consent_decided_by") == dec {
				if t.ConsentDecider, err = l.Actor(dec); err != nil {
					return t, err
				}
			}
		}
	case syncengine.TypeFollowUp:
		if wrote("assignee") {
			if t.Assignee, err = l.Actor(r.String("assignee")); err != nil {
				return t, err
			}
		}
	case syncengine.TypeEncounter:
		for _, i := range ops {
			o := cs.Ops[i]
			if o.Kind != syncengine.OpAdd || o.Field != "workers" {
				continue
			}
			// The writer (the changeset's author, bound to the device by
			// CheckIdentity) needs no lookup: the policy lets them name
			// themselves.
			w := WorkerPresent{Actor: &Actor{PersonID: o.Elem}}
			if o.Elem != cs.Author {
				if w.Actor, err = l.Actor(o.Elem); err != nil {
					return t, err
				}
				// Someone who has since left the team may have been there
				// when a phone, offline, recorded the encounter.
				if w.Actor != nil && !slices.Contains(w.Actor.Teams, t.Team) && t.Team != "" {
					if w.WasOnTeam, err = l.WasOnTeam(o.Elem, t.Team); err != nil {
						return t, err
					}
				}
			}
			t.WorkersAdded = append(t.WorkersAdded, w)
		}
	}
	return t, nil
}

// appendActions lists, after acts (empty), what cs's ops on record r (b: as
// it was) do, without repeats.
// Status writes on a referral are lifecycle transitions from every value the
// server holds at that point: a write that references nothing, or values the
// server never had, still moves from what is there.
func appendActions(acts []Action, cs *syncengine.Changeset, ops []int, ids []syncengine.ID, b *Stored, r *syncengine.Record) []Action {
	add := func(a Action) {
		if !slices.Contains(acts, a) {
			acts = append(acts, a)
		}
	}
	typ := r.Type
	signedOff := b.Exists && b.Rec != nil && b.Rec.String("review_status") == "signed_off"
	var status []syncengine.RegValue
	if b.Exists && b.Rec != nil {
		if b.Rec.Type != "" {
			typ = b.Rec.Type
		}
		if f := b.Rec.Fields["status"]; f != nil {
			status = slices.Clone(f.Values)
		}
	}
	for _, i := range ops {
		op := cs.Ops[i]
		switch op.Kind {
		case syncengine.OpCreate:
			if !b.Exists {
				add(Action{Verb: VerbCreate})
			}
		case syncengine.OpRedacted:
			// On a record already erased a placeholder is the server's
			// redaction of a write made before the erasure (the stores'
			// redactLedgered), not an erasure by its pusher: it is
			// authorised as the write it was, or a worker's late save
			// would be refused whole, its other records with it.
			if erasedBefore(b) {
				add(Action{Verb: VerbSet})
			} else {
				add(Action{Verb: VerbErase})
			}
		case syncengine.OpErase:
			add(Action{Verb: VerbErase})
		case syncengine.OpOmitted:
		case syncengine.OpSet:
			// The value is decoded only for the three fields whose value
			// decides the action: every other write is a plain set, and
			// decoding each value was most of admission's own cost.
			switch {
			case op.Field == syncengine.DeletedField && jsonTrue(op.Value):
				add(Action{Verb: VerbDelete})
			case op.Field == syncengine.DeletedField && b.Exists && b.Rec != nil && b.Rec.Deleted():
				add(Action{Verb: VerbUndelete})
			case op.Field == "status" && typ == syncengine.TypeReferral:
				to := jsonString(op.Value)
				froms := []string{}
				for _, sv := range status {
					s := jsonString(sv.Value)
					if !slices.Contains(froms, s) {
						froms = append(froms, s)
					}
				}
				if len(froms) == 0 {
					froms = append(froms, "")
				}
				for _, from := range froms {
					if from != to {
						add(Action{Verb: VerbTransition, From: from, To: to})
					}
				}
				status = slices.DeleteFunc(status, func(sv syncengine.RegValue) bool { return slices.Contains(op.Refs, sv.ID) })
				status = append(status, syncengine.RegValue{ID: ids[i], Value: op.Value})
			case typ == syncengine.TypeEncounter && (op.Field == "signed_off_by" || op.Field == "review_comment" || op.Field == "review_status" && (signedOff || jsonString(op.Value) == "signed_off")):
				// Signing off, and reopening what a supervisor signed off.
				add(Action{Verb: VerbSignOff})
			default:
				add(Action{Verb: VerbSet, Field: op.Field})
			}
		default:
			add(Action{Verb: VerbSet, Field: op.Field})
		}
	}
	return acts
}

// erasedBefore reports whether b, a record as it was, was erased.
func erasedBefore(b *Stored) bool { return b.Exists && b.Rec != nil && b.Rec.Erased != nil }

// jsonTrue reports whether raw is the JSON value true.
func jsonTrue(raw []byte) bool {
	if string(raw) == "true" {
		return true
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	return v == true
}

// jsonString is raw decoded as a JSON string, "" if it is not one.
func jsonString(raw []byte) string {
	s, _ := syncengine.StringValue(raw)
	return s
}

// AuthorizeRelease checks a reviewer may release a quarantined change that
// would store after: they must be allowed to review quarantine on every
// record it writes, where it is filed now and where it would be filed. (The
// pusher's own rights are Admit's, checked as for a push.)
func AuthorizeRelease(l AdmitLookup, reviewer Actor, after []*syncengine.Record) error {
	targets, err := reviewTargets(l, after)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := Authorize(reviewer, Action{Verb: VerbReviewQuarantine}, t.Target); err != nil {
			return Errorf(EFORBIDDEN, "release quarantined changeset", "you may not release a change to record %s: %s", t.id, ErrorMessage(err))
		}
	}
	return nil
}

type reviewTarget struct {
	Target
	id syncengine.RecordID
}

// reviewTargets are the records a reviewed change writes, as stored after
// a release: each where it would be filed and, if it is filed elsewhere
// now, there too.
func reviewTargets(l AdmitLookup, after []*syncengine.Record) ([]reviewTarget, error) {
	filed := map[syncengine.RecordID]syncengine.Filing{}
	var out []reviewTarget
	for _, r := range after {
		b, err := l.Stored(r.ID)
		if err != nil {
			return nil, err
		}
		f, err := FileStored(l, r, b, true, filed)
		if err != nil {
			return nil, err
		}
		filed[r.ID] = f
		out = append(out, reviewTarget{Target{Type: r.Type, Team: f.Team, Exists: b.Exists}, r.ID})
		if b.Exists && b.Team != f.Team {
			out = append(out, reviewTarget{Target{Type: r.Type, Team: b.Team, Exists: true}, r.ID})
		}
	}
	return out, nil
}

// AuthorizeDiscard checks a reviewer may discard a quarantined change cs
// (after: its records as releasing it would store them; nil if it cannot
// be placed now). Like a release it is decided as of now, not by where the
// records were filed when it was refused: the reviewer must be allowed to
// review quarantine on a record it writes, where that record is filed now
// or would be, or on a team its sender (a person id) is in today. A team a young
// person has since left must not throw away a worker's note about them.
// With no record known at all (a change that cannot be read) nothing could
// ever be applied, and anyone the item is listed to may close it.
func AuthorizeDiscard(l AdmitLookup, reviewer Actor, sender string, cs *syncengine.Changeset, after []*syncengine.Record) error {
	targets, err := reviewTargets(l, after)
	if err != nil {
		return err
	}
	placed := map[syncengine.RecordID]bool{}
	for _, t := range targets {
		placed[t.id] = true
	}
	if cs != nil {
		for _, id := range cs.Records() {
			if placed[id] {
				continue
			}
			// Not placed (it still waits on what it depends on): where
			// the server holds the record now.
			b, err := l.Stored(id)
			if err != nil {
				return err
			}
			if b.Exists && b.Rec != nil {
				targets = append(targets, reviewTarget{Target{Type: b.Rec.Type, Team: b.Team, Exists: true}, id})
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}
	who, err := l.Actor(sender)
	if err != nil {
		return err
	}
	if who != nil {
		for _, t := range slices.Clone(targets) {
			for _, team := range who.Teams {
				targets = append(targets, reviewTarget{Target{Type: t.Type, Team: team, Exists: true}, t.id})
			}
		}
	}
	for _, t := range targets {
		if Authorize(reviewer, Action{Verb: VerbReviewQuarantine}, t.Target) == nil {
			return nil
		}
	}
	return ErrNotYoursToDiscard
}

// ErrNotYoursToDiscard refuses a discard by a reviewer with no say over the
// change now (AuthorizeDiscard).
var ErrNotYoursToDiscard = Errorf(EFORBIDDEN, "discard quarantined changeset",
	"you may not discard this change: the records it writes are no longer filed under your teams, and its sender is not in them")
