package domain

import (
	"slices"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
	"pgregory.net/rapid"
)

var (
	workerA     = Actor{PersonID: "wa", Role: RoleWorker, Teams: []string{"ta"}}
	supervisorA = Actor{PersonID: "sa", Role: RoleSupervisor, Teams: []string{"ta"}}
	supervisorB = Actor{PersonID: "sb", Role: RoleSupervisor, Teams: []string{"tb"}}
	practX      = Actor{PersonID: "px", Role: RolePractitioner, ServiceID: "sx"}
	admin       = Actor{PersonID: "ad", Role: RoleAdmin}
)

func TestAuthorize(t *testing.T) {
	given := Target{Type: TypeReferral, Team: "ta", Exists: true, Status: "draft", Consent: "given"}
	tests := []struct {
		name string
		who  Actor
		a    Action
		t    Target
		ok   bool
	}{
		{"admin administers the organisation", admin, Action{Verb: VerbAdminister}, Target{Type: TypeOrganisation}, true},
		{"supervisor administers the organisation", supervisorA, Action{Verb: VerbAdminister}, Target{Type: TypeOrganisation, Team: "ta"}, false},
		{"worker administers the organisation", workerA, Action{Verb: VerbAdminister}, Target{Type: TypeOrganisation, Team: "ta"}, false},
		{"practitioner administers the organisation", practX, Action{Verb: VerbAdminister}, Target{Type: TypeOrganisation}, false},
		{"admin administers a record type", admin, Action{Verb: VerbAdminister}, Target{Type: TypeEncounter, Team: "ta"}, false},
		{"worker creates encounter in own team", workerA, Action{Verb: VerbCreate}, Target{Type: TypeEncounter, Team: "ta"}, true},
		{"worker creates encounter in other team", workerA, Action{Verb: VerbCreate}, Target{Type: TypeEncounter, Team: "tb"}, false},
		{"worker creates in no team", workerA, Action{Verb: VerbCreate}, Target{Type: TypeEncounter}, false},
		{"admin creates in no existing team", admin, Action{Verb: VerbCreate}, Target{Type: TypeYoungPerson}, false},
		{"worker creates service", workerA, Action{Verb: VerbCreate}, Target{Type: TypeService, Team: "ta"}, false},
		{"admin creates service", admin, Action{Verb: VerbCreate}, Target{Type: TypeService}, true},
		// A phone's write to the directory that sits in quarantine is an admin's to release.
		{"supervisor reviews a directory change", supervisorA, Action{Verb: VerbReviewQuarantine}, Target{Type: TypeService, Team: "ta"}, false},
		{"supervisor reviews own team's encounter", supervisorA, Action{Verb: VerbReviewQuarantine}, Target{Type: TypeEncounter, Team: "ta"}, true},
		{"admin reviews a directory change", admin, Action{Verb: VerbReviewQuarantine}, Target{Type: TypeService}, true},
		{"worker creates unknown type", workerA, Action{Verb: VerbCreate}, Target{Type: "pet", Team: "ta"}, false},
		{"admin creates unknown type", admin, Action{Verb: VerbCreate}, Target{Type: "pet", Team: "ta"}, false},
		{"worker erases", workerA, Action{Verb: VerbErase}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"supervisor erases own team", supervisorA, Action{Verb: VerbErase}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, true},
		{"supervisor erases other team", supervisorB, Action{Verb: VerbErase}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"worker signs off", workerA, Action{Verb: VerbSignOff}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"worker acknowledges a concern", workerA, Action{Verb: VerbAcknowledge}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"supervisor acknowledges own team's concern", supervisorA, Action{Verb: VerbAcknowledge}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, true},
		{"supervisor acknowledges other team's concern", supervisorB, Action{Verb: VerbAcknowledge}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"supervisor acknowledges a referral", supervisorA, Action{Verb: VerbAcknowledge}, Target{Type: TypeReferral, Team: "ta", Exists: true}, false},
		{"worker merges young people", workerA, Action{Verb: VerbMerge}, Target{Type: TypeYoungPerson, Team: "ta", Exists: true}, false},
		{"supervisor merges own team's young people", supervisorA, Action{Verb: VerbMerge}, Target{Type: TypeYoungPerson, Team: "ta", Exists: true}, true},
		{"supervisor merges other team's young people", supervisorB, Action{Verb: VerbMerge}, Target{Type: TypeYoungPerson, Team: "ta", Exists: true}, false},
		{"supervisor merges encounters", supervisorA, Action{Verb: VerbMerge}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"worker sets merged_into", workerA, Action{Verb: VerbSet, Field: "merged_into"}, Target{Type: TypeYoungPerson, Team: "ta", Exists: true}, false},
		{"supervisor sets merged_into", supervisorA, Action{Verb: VerbSet, Field: "merged_into"}, Target{Type: TypeYoungPerson, Team: "ta", Exists: true}, true},
		{"worker moves record by team_id", workerA, Action{Verb: VerbSet, Field: "team_id"}, Target{Type: TypeYoungPerson, Team: "ta", NewTeam: "tb", Exists: true}, false},
		{"supervisor of both moves record by team_id", Actor{Role: RoleSupervisor, Teams: []string{"ta", "tb"}}, Action{Verb: VerbSet, Field: "team_id"}, Target{Type: TypeYoungPerson, Team: "ta", NewTeam: "tb", Exists: true}, false},
		{"worker submits with consent given", workerA, Action{Verb: VerbTransition, From: "draft", To: "submitted"}, given, true},
		{"worker accepts", workerA, Action{Verb: VerbTransition, From: "submitted", To: "accepted"}, given, false},
		{"worker submits consent refused", workerA, Action{Verb: VerbTransition, From: "draft", To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Exists: true, Consent: "refused"}, false},
		{"worker submits consent not asked", workerA, Action{Verb: VerbTransition, To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Consent: "not_asked"}, false},
		{"shared without consent no justification", workerA, Action{Verb: VerbTransition, To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Consent: "shared_without_consent", ConsentDecider: &supervisorA}, false},
		{"shared without consent decided by worker", workerA, Action{Verb: VerbTransition, To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Consent: "shared_without_consent", ConsentJustified: true, ConsentDecider: &workerA}, false},
		{"shared without consent decided by other team's supervisor", workerA, Action{Verb: VerbTransition, To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Consent: "shared_without_consent", ConsentJustified: true, ConsentDecider: &supervisorB}, false},
		{"shared without consent decided by supervisor", workerA, Action{Verb: VerbTransition, To: "submitted"}, Target{Type: TypeReferral, Team: "ta", Consent: "shared_without_consent", ConsentJustified: true, ConsentDecider: &supervisorA}, true},
		{"practitioner accepts shared referral", practX, Action{Verb: VerbTransition, From: "submitted", To: "accepted"}, Target{Type: TypeReferral, Team: "ta", Service: "sx", Exists: true}, true},
		{"practitioner back to draft", practX, Action{Verb: VerbTransition, From: "accepted", To: "draft"}, Target{Type: TypeReferral, Team: "ta", Service: "sx", Exists: true}, false},
		{"practitioner of other service", Actor{Role: RolePractitioner, ServiceID: "sy"}, Action{Verb: VerbTransition, From: "submitted", To: "accepted"}, Target{Type: TypeReferral, Team: "ta", Service: "sx", Exists: true}, false},
		{"practitioner sets reason", practX, Action{Verb: VerbSet, Field: "reason"}, Target{Type: TypeReferral, Service: "sx", Exists: true}, false},
		{"practitioner reads unshared referral", practX, Action{Verb: VerbRead}, Target{Type: TypeReferral, Team: "ta", Exists: true}, false},
		{"re-address submitted without decision", workerA, Action{Verb: VerbSet, Field: "service_id"}, Target{Type: TypeReferral, Team: "ta", Status: "submitted", Exists: true, Consent: "given"}, false},
		{"re-address submitted with decision", workerA, Action{Verb: VerbSet, Field: "service_id"}, Target{Type: TypeReferral, Team: "ta", Status: "submitted", Exists: true, Consent: "given", NewConsentDecision: true}, true},
		{"worker records sharing without consent on a submitted referral, deciding it themself", workerA, Action{Verb: VerbSet, Field: "consent"}, Target{Type: TypeReferral, Team: "ta", Status: "submitted", Exists: true, Consent: "shared_without_consent", ConsentJustified: true, ConsentDecider: &workerA}, false},
		{"worker records the supervisor's decision to share without consent", workerA, Action{Verb: VerbSet, Field: "consent"}, Target{Type: TypeReferral, Team: "ta", Status: "submitted", Exists: true, Consent: "shared_without_consent", ConsentJustified: true, ConsentDecider: &supervisorA}, true},
		{"worker withdraws consent on a submitted referral", workerA, Action{Verb: VerbSet, Field: "consent"}, Target{Type: TypeReferral, Team: "ta", Status: "submitted", Exists: true, Consent: "refused"}, true},
		{"assignee of team", workerA, Action{Verb: VerbSet, Field: "assignee"}, Target{Type: TypeFollowUp, Team: "ta", Assignee: &supervisorA}, true},
		{"assignee of other team", workerA, Action{Verb: VerbSet, Field: "assignee"}, Target{Type: TypeFollowUp, Team: "ta", Assignee: &supervisorB}, false},
		{"workers present of team", workerA, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{Actor: &workerA}, {Actor: &supervisorA}}}, true},
		{"workers present of other team", workerA, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{Actor: &workerA}, {Actor: &supervisorB}}}, false},
		{"workers present: moved from the team since", workerA, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{Actor: &supervisorB, WasOnTeam: true}}}, true},
		{"workers present unknown", workerA, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{}}}, false},
		{"workers present: an admin names themself", admin, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{Actor: &Actor{PersonID: admin.PersonID}}}}, true},
		{"workers present: a practitioner", workerA, Action{Verb: VerbSet, Field: "workers"}, Target{Type: TypeEncounter, Team: "ta", WorkersAdded: []WorkerPresent{{Actor: &practX, WasOnTeam: true}}}, false},
		{"assignee unknown", workerA, Action{Verb: VerbSet, Field: "assignee"}, Target{Type: TypeFollowUp, Team: "ta"}, false},
		{"revoked device", Actor{Role: RoleAdmin, Revoked: true}, Action{Verb: VerbRead}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"no credentials", Actor{}, Action{Verb: VerbRead}, Target{Type: TypeEncounter, Team: "ta", Exists: true}, false},
		{"supervisor transfers own young person", supervisorA, Action{Verb: VerbTransfer}, Target{Type: TypeYoungPerson, Team: "ta", NewTeam: "tb", Exists: true}, true},
		{"supervisor transfers other team's", supervisorB, Action{Verb: VerbTransfer}, Target{Type: TypeYoungPerson, Team: "ta", NewTeam: "tb", Exists: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Authorize(tc.who, tc.a, tc.t)
			if (err == nil) != tc.ok {
				t.Fatalf("Authorize = %v, want allowed=%v", err, tc.ok)
			}
			if err != nil && ErrorCode(err) != EFORBIDDEN {
				t.Fatalf("code %q, want %q", ErrorCode(err), EFORBIDDEN)
			}
		})
	}
}

// TestAuthorizeProperties checks invariants of the policy over random
// actors, actions and targets.
func TestAuthorizeProperties(t *testing.T) {
	teams := []string{"", "ta", "tb", "tc"}
	services := []string{"", "sx", "sy"}
	verbs := allVerbs
	types := []string{TypeEncounter, TypeYoungPerson, TypeReferral, TypeFollowUp, TypeService, "pet", ""}
	fields := []string{"team_id", "status", "reason", "assignee", "service_id", "outcome", "note"}
	states := []string{"", "draft", "submitted", "accepted", "declined", "withdrawn", "closed"}
	rapid.Check(t, func(t *rapid.T) {
		who := Actor{
			Role:      rapid.SampledFrom([]string{"", RoleWorker, RoleSupervisor, RolePractitioner, RoleAdmin, "guest"}).Draw(t, "role"),
			Teams:     rapid.SliceOfNDistinct(rapid.SampledFrom(teams[1:]), 0, 3, rapid.ID[string]).Draw(t, "teams"),
			ServiceID: rapid.SampledFrom(services).Draw(t, "service"),
			Revoked:   rapid.Bool().Draw(t, "revoked"),
		}
		a := Action{Verb: rapid.SampledFrom(verbs).Draw(t, "verb"), Field: rapid.SampledFrom(fields).Draw(t, "field"),
			From: rapid.SampledFrom(states).Draw(t, "from"), To: rapid.SampledFrom(states[1:]).Draw(t, "to")}
		tg := Target{Type: rapid.SampledFrom(types).Draw(t, "type"), Team: rapid.SampledFrom(teams).Draw(t, "team"),
			Service: rapid.SampledFrom(services).Draw(t, "tservice"), Exists: rapid.Bool().Draw(t, "exists"),
			NewTeam: rapid.SampledFrom(teams).Draw(t, "newteam"), Consent: rapid.SampledFrom([]string{"", "given", "refused", "not_asked", "shared_without_consent"}).Draw(t, "consent"),
			ConsentJustified: rapid.Bool().Draw(t, "justified"), NewConsentDecision: rapid.Bool().Draw(t, "newdecision")}
		err := Authorize(who, a, tg)
		if err == nil && ErrorCode(err) != "" {
			t.Fatalf("nil error with a code")
		}
		if err != nil {
			if ErrorCode(err) != EFORBIDDEN {
				t.Fatalf("refusal with code %q", ErrorCode(err))
			}
			return
		}
		// Allowed: check what must then hold.
		if who.Revoked || who.Role == "" {
			t.Fatalf("revoked or anonymous actor allowed %v", a)
		}
		switch who.Role {
		case RoleWorker, RoleSupervisor:
			if !slices.Contains(who.Teams, tg.Team) {
				t.Fatalf("%s allowed %v on a record of team %q outside %v", who.Role, a, tg.Team, who.Teams)
			}
			if tg.Type == TypeService || tg.Type == "pet" || tg.Type == "" {
				t.Fatalf("%s allowed %v on type %q", who.Role, a, tg.Type)
			}
		case RolePractitioner:
			if tg.Type != TypeReferral || tg.Service == "" || tg.Service != who.ServiceID {
				t.Fatalf("practitioner allowed %v on %+v", a, tg)
			}
			if a.Verb != VerbRead && a.Verb != VerbSet && a.Verb != VerbTransition {
				t.Fatalf("practitioner allowed %v", a)
			}
		case RoleAdmin:
			if tg.Type == "pet" {
				t.Fatalf("admin allowed %v on an unknown type", a)
			}
		default:
			t.Fatalf("unknown role %q allowed", who.Role)
		}
		if tg.NewTeam != "" && tg.NewTeam != tg.Team && a.Verb != VerbTransfer && a.Verb != VerbReceive {
			t.Fatalf("a write moved a record between teams: %v %+v", a, tg)
		}
		if a.Verb == VerbTransition {
			if (a.To == "accepted" || a.To == "declined") && who.Role != RolePractitioner && who.Role != RoleAdmin {
				t.Fatalf("%s accepted or declined a referral", who.Role)
			}
			// Consent governs sharing a referral; no other type is shared.
			if a.To == "submitted" && tg.Type == TypeReferral && !syncengine.ConsentPermitsSharing(tg.Consent, tg.ConsentJustified) {
				t.Fatalf("submitted with consent %q justified=%v", tg.Consent, tg.ConsentJustified)
			}
			if a.To == "draft" && a.From != "" {
				t.Fatalf("moved back to draft from %s", a.From)
			}
		}
	})
}

func FuzzAuthorize(f *testing.F) {
	f.Add("worker", "ta", "set", "team_id", "referral", "tb", "", "", "draft", "submitted", true)
	f.Fuzz(func(t *testing.T, role, teams, verb, field, typ, team, service, newTeam, from, to string, exists bool) {
		who := Actor{Role: role, Teams: []string{teams}}
		err := Authorize(who, Action{Verb: Verb(verb), Field: field, From: from, To: to},
			Target{Type: typ, Team: team, Service: service, NewTeam: newTeam, Exists: exists})
		if err == nil && role != RoleAdmin && role != RolePractitioner && team != teams {
			t.Fatalf("%s of %q allowed %s on team %q", role, teams, verb, team)
		}
	})
}

// BenchmarkAuthorize: one decision, as sync makes it per op and pull per
// record (a supervisor submitting a referral: the rule table, then the
// consent precondition).
func BenchmarkAuthorize(b *testing.B) {
	who := Actor{Role: RoleSupervisor, Teams: []string{"ta", "tb", "tc"}}
	a := Action{Verb: VerbTransition, From: "draft", To: "submitted"}
	t := Target{Type: TypeReferral, Team: "tc", Exists: true, Status: "draft", Consent: "given"}
	for i := 0; i < b.N; i++ {
		if Authorize(who, a, t) != nil {
			b.Fatal("refused")
		}
	}
}
