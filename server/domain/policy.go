package domain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/joinedup/joinedup/syncengine"
)

// The authorisation policy: who may do what to which record. It is data (the
// rule table in policy_table.go) and pure functions, called by every path that
// writes or shows a record: sync push, pull, the portal, the admin API and
// quarantine review. Every input describes what the server holds (the owning
// team and service it filed the record under, the lifecycle state it stored,
// the people it knows), never what a phone wrote into the record: a phone
// cannot authorise itself by writing a field.
//
// Model: Kubernetes' RBAC authorizer (rules as data, RulesAllow).

// Record types, as the engine names them.
const (
	TypeEncounter   = syncengine.TypeEncounter
	TypeYoungPerson = syncengine.TypeYoungPerson
	TypeReferral    = syncengine.TypeReferral
	TypeFollowUp    = syncengine.TypeFollowUp
	TypeService     = syncengine.TypeService
)

// Verb is what an actor does to a record.
type Verb string

const (
	VerbRead             Verb = "read"
	VerbCreate           Verb = "create"
	VerbSet              Verb = "set"        // write field Action.Field
	VerbTransition       Verb = "transition" // move a referral's status Action.From -> Action.To
	VerbDelete           Verb = "delete"
	VerbUndelete         Verb = "undelete"
	VerbErase            Verb = "erase"
	VerbResolve          Verb = "resolve" // settle a conflict between concurrent values
	VerbSignOff          Verb = "sign_off"
	VerbTransfer         Verb = "transfer" // start moving a young person out of the team
	VerbReceive          Verb = "receive"  // accept a young person into the team
	VerbReviewQuarantine Verb = "review_quarantine"
	VerbDecideConsent    Verb = "decide_consent" // decide to share without consent
	// VerbAdminister: create, edit and deactivate staff, teams, services
	// and their agreements; issue password links; unlock; end sessions.
	VerbAdminister  Verb = "administer"
	VerbAcknowledge Verb = "acknowledge" // close a safeguarding concern alert with a note
	// VerbMerge folds a duplicate young person's profile into another; the
	// only way to write a profile's merged_into.
	VerbMerge Verb = "merge"
)

// TypeOrganisation is the target of VerbAdminister: the organisation's
// people, teams and services, which are not synced records.
const TypeOrganisation = "organisation"

// Action is a verb with what it needs: the field for VerbSet, the states for
// VerbTransition ("" From: the referral is new).
type Action struct {
	Verb     Verb
	Field    string
	From, To string
}

func (a Action) String() string {
	switch a.Verb {
	case VerbSet:
		return "set " + a.Field + " of"
	case VerbTransition:
		from := a.From
		if from == "" {
			from = "new"
		}
		return fmt.Sprintf("move from %s to %s", from, a.To)
	}
	return strings.ReplaceAll(string(a.Verb), "_", " ")
}

// Actor is who acts, as the server knows them: from the authenticated device
// or portal session, never from the request body.
type Actor struct {
	PersonID  string
	Role      string   // "" for no credentials
	Teams     []string // own team and, for a supervisor, the supervised teams
	ServiceID string   // a practitioner's service
	DeviceID  string   // "" on the portal and for the server's own replicas
	Replicas  []string // replica ids bound to the device
	Revoked   bool     // the device was revoked
}

// ActorOf builds the actor for a person's current scope, acting through dev
// (nil on the portal).
func ActorOf(s Scope, dev *Device) Actor {
	a := Actor{PersonID: s.PersonID, Role: s.Role, Teams: slices.Clone(s.Teams), ServiceID: s.ServiceID}
	if dev != nil {
		a.DeviceID = dev.ID
		if dev.ReplicaID != "" {
			a.Replicas = []string{dev.ReplicaID}
		}
		a.Revoked = dev.Status == DeviceRevoked
	}
	return a
}

// Target is the record acted on, as the server holds it.
type Target struct {
	Type    string
	Team    string // owning team the server filed it under (for a new record: will file it under); "" if none or no such team
	Service string // service a referral is shared with (submitted with consent), "" if none
	Status  string // a referral's lifecycle state as stored, "" if new
	Exists  bool

	// NewTeam is the team the record would be filed under after the action,
	// if that differs from Team: moving a record is a transfer, never a write.
	NewTeam string
	// Consent as it would stand after the action (referrals): the decision,
	// whether a justification is recorded, and the server's view of the
	// person recorded as deciding (nil: unknown or none).
	Consent          string
	ConsentJustified bool
	ConsentDecider   *Actor
	// NewConsentDecision: the same change records a consent decision
	// (re-addressing a submitted referral needs one).
	NewConsentDecision bool
	// Assignee is the server's view of the person a follow-up is assigned
	// to by the action (nil: unknown person).
	Assignee *Actor
	// WorkersAdded are the people the action adds to an encounter's
	// "workers present".
	WorkersAdded []WorkerPresent
}

// WorkerPresent is a person added to an encounter's workers present.
type WorkerPresent struct {
	Actor *Actor // the server's view of them (nil: unknown person)
	// WasOnTeam: they have left the record's team (moved, or stopped
	// supervising it) since a phone may have recorded them there.
	WasOnTeam bool
}

// Relation is how a rule's target must relate to the actor.
type Relation uint8

const (
	OwnTeam    Relation = iota + 1 // the record's owning team is one of the actor's teams
	OwnService                     // the referral is shared with the actor's service
	Anywhere
)

// Transition is one allowed lifecycle edge ("" From: a new referral).
type Transition struct{ From, To string }

// Rule allows its roles the verbs on the types where the relation holds.
// Fields (VerbSet) and Transitions (VerbTransition), when given, narrow it.
type Rule struct {
	Roles       []string
	Verbs       []Verb
	Types       []string // "*": any known type
	Where       Relation
	Fields      []string
	Transitions []Transition
}

// PolicyRules returns a copy of the rule table (for documentation and tests).
func PolicyRules() []Rule { return slices.Clone(rules) }

// RulesAllow reports whether any rule allows the action, before preconditions.
func RulesAllow(rs []Rule, who Actor, a Action, t Target) bool {
	for i := range rs {
		if ruleAllows(&rs[i], who, a, t) {
			return true
		}
	}
	return false
}

func ruleAllows(r *Rule, who Actor, a Action, t Target) bool {
	if !slices.Contains(r.Roles, who.Role) || !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	switch {
	case slices.Contains(r.Types, "*"):
		// Any known type, or no record at all (a quarantine item); never a
		// type the schema does not know.
		if t.Type != "" && syncengine.SchemaFor(t.Type) == nil {
			return false
		}
	case !slices.Contains(r.Types, t.Type):
		return false
	}
	switch r.Where {
	case OwnTeam:
		if t.Team == "" || !slices.Contains(who.Teams, t.Team) {
			return false
		}
	case OwnService:
		if t.Service == "" || t.Service != who.ServiceID {
			return false
		}
	case Anywhere:
	default:
		return false
	}
	if a.Verb == VerbSet && len(r.Fields) > 0 && !slices.Contains(r.Fields, a.Field) {
		return false
	}
	if a.Verb == VerbTransition && !slices.Contains(r.Transitions, Transition{a.From, a.To}) {
		return false
	}
	return true
}

func forbid(format string, args ...any) error {
	return Errorf(EFORBIDDEN, "authorize", format, args...)
}

// Authorize decides whether who may do a to t: nil, or an error with code
// EFORBIDDEN and a message saying why.
func Authorize(who Actor, a Action, t Target) error {
	switch {
	case who.Revoked:
		return forbid("this device has been revoked")
	case who.Role == "":
		return forbid("no valid credentials")
	}
	if !RulesAllow(rules, who, a, t) {
		return forbid("a %s may not %s %s", who.Role, a, describeTarget(who, t))
	}
	return preconditions(who, a, t)
}

// preconditions are the rules about the record's state rather than the
// actor's role, checked once a rule allowed the action.
func preconditions(who Actor, a Action, t Target) error {
	if t.NewTeam != "" && t.NewTeam != t.Team && a.Verb != VerbTransfer && a.Verb != VerbReceive {
		if !t.Exists {
			return forbid("a new %s is filed under team %s, not %s", label(t.Type), t.Team, t.NewTeam)
		}
		return forbid("moving a %s from team %s to %s is a transfer, not an edit", label(t.Type), t.Team, t.NewTeam)
	}
	if !t.Exists && a.Verb == VerbCreate && t.Team == "" && slices.Contains(recordTypes, t.Type) {
		return forbid("a new %s must belong to an existing team", label(t.Type))
	}
	if t.Type == TypeReferral {
		if a.Verb == VerbTransition && a.To == "submitted" {
			if err := consentAllowsSharing(t); err != nil {
				return err
			}
		}
		// A consent decision on a referral already shared: sharing without
		// consent must be a supervisor's recorded decision here too.
		if a.Verb == VerbSet && slices.Contains(consentFields, a.Field) && t.Consent == "shared_without_consent" &&
			t.Exists && t.Status != "" && t.Status != "draft" {
			if err := consentAllowsSharing(t); err != nil {
				return err
			}
		}
		if a.Verb == VerbSet && a.Field == "service_id" && t.Exists && t.Status != "" && t.Status != "draft" {
			if !t.NewConsentDecision {
				return forbid("re-addressing a %s referral to another service needs a new consent decision", t.Status)
			}
			if err := consentAllowsSharing(t); err != nil {
				return err
			}
		}
	}
	// merged_into hides a profile from every list: only someone who may
	// merge it may write it, whatever else they may set.
	if t.Type == TypeYoungPerson && a.Verb == VerbSet && a.Field == "merged_into" &&
		!RulesAllow(rules, who, Action{Verb: VerbMerge}, t) {
		return forbid("only a supervisor merges young people's profiles")
	}
	// Workers present are the writer or the team's own people: the roster a
	// phone offers, or someone who has left the team since (a phone offline
	// recorded them from the roster it had; refusing would strand the
	// encounter in quarantine, as a release runs this check again). Only
	// names added are checked, so editing an older encounter is not refused.
	if t.Type == TypeEncounter && a.Verb == VerbSet && a.Field == "workers" {
		for _, w := range t.WorkersAdded {
			p := w.Actor
			if p == nil || p.PersonID != who.PersonID && (p.Role != RoleWorker && p.Role != RoleSupervisor ||
				!slices.Contains(p.Teams, t.Team) && !w.WasOnTeam) {
				return forbid("workers present at an encounter must be workers or supervisors of its team")
			}
		}
	}
	if t.Type == TypeFollowUp && a.Verb == VerbSet && a.Field == "assignee" {
		if t.Assignee == nil || (t.Assignee.Role != RoleWorker && t.Assignee.Role != RoleSupervisor) ||
			!slices.Contains(t.Assignee.Teams, t.Team) {
			return forbid("a follow-up can only be assigned to a worker or supervisor of its team")
		}
	}
	return nil
}

var consentFields = []string{"consent", "consent_justification", "consent_decided_by"}

// consentAllowsSharing: a referral reaches a service only with consent given,
// or shared without consent with a justification and the decision of a
// supervisor of the owning team.
func consentAllowsSharing(t Target) error {
	switch t.Consent {
	case "given":
		return nil
	case "shared_without_consent":
		if !t.ConsentJustified {
			return forbid("sharing without consent needs a recorded justification")
		}
		if t.ConsentDecider == nil {
			return forbid("sharing without consent needs the decision of a supervisor of the team")
		}
		if err := Authorize(*t.ConsentDecider, Action{Verb: VerbDecideConsent}, Target{Type: t.Type, Team: t.Team, Exists: t.Exists}); err != nil {
			return forbid("sharing without consent needs the decision of a supervisor of the team")
		}
		return nil
	}
	c := t.Consent
	if c == "" {
		c = "not recorded"
	}
	return forbid("a referral cannot be submitted with consent %s: consent must be given, or shared without consent on a supervisor's recorded decision", strings.ReplaceAll(c, "_", " "))
}

func label(typ string) string {
	if typ == "" {
		return "record"
	}
	return strings.ReplaceAll(typ, "_", " ")
}

func describeTarget(who Actor, t Target) string {
	what := label(t.Type)
	if !t.Exists {
		what = "a new " + what
	} else {
		what = "a " + what
	}
	switch {
	case t.Type != "" && !slices.Contains(recordTypes, t.Type) && t.Type != TypeService:
		return what + " (unknown record type)"
	case t.Type == TypeService && who.Role != RoleAdmin:
		return what + " (the service directory is read-only on phones; an administrator edits it in the portal)"
	case who.Role == RolePractitioner && t.Service != who.ServiceID:
		return what + " not shared with their service"
	case who.Role != RolePractitioner && who.Role != RoleAdmin && t.Team != "" && !slices.Contains(who.Teams, t.Team):
		return what + " of another team"
	}
	return what
}
