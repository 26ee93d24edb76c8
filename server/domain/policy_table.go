package domain

// The rule table: every (role, verb, record type, relation) that is allowed.
// Anything not listed is forbidden. docs/authorization.md shows it as a
// table; keep the two in step. Conditions that are not about who the actor
// is (consent before a referral is shared, which fields a service may set,
// assignees in the owning team, moving a record between teams) are the
// preconditions in policy.go, checked after a rule matched.
var rules = []Rule{
	// Workers: their own team's records.
	{Roles: r(RoleWorker), Verbs: v(VerbRead, VerbCreate, VerbSet, VerbDelete, VerbResolve), Types: recordTypes, Where: OwnTeam},
	{Roles: r(RoleWorker), Verbs: v(VerbTransition), Types: t(TypeReferral), Where: OwnTeam, Transitions: teamTransitions},

	// Supervisors: their own and supervised teams, plus the privileged verbs.
	{Roles: r(RoleSupervisor), Verbs: v(VerbRead, VerbCreate, VerbSet, VerbDelete, VerbUndelete, VerbErase, VerbResolve), Types: recordTypes, Where: OwnTeam},
	{Roles: r(RoleSupervisor), Verbs: v(VerbSignOff, VerbAcknowledge), Types: t(TypeEncounter), Where: OwnTeam},
	{Roles: r(RoleSupervisor), Verbs: v(VerbTransition), Types: t(TypeReferral), Where: OwnTeam, Transitions: teamTransitions},
	{Roles: r(RoleSupervisor), Verbs: v(VerbTransfer), Types: t(TypeYoungPerson), Where: OwnTeam},   // start: source team
	{Roles: r(RoleSupervisor), Verbs: v(VerbReceive), Types: t(TypeYoungPerson), Where: OwnTeam},    // accept: receiving team
	{Roles: r(RoleSupervisor), Verbs: v(VerbMerge), Types: t(TypeYoungPerson), Where: OwnTeam},      // duplicates: both profiles
	{Roles: r(RoleSupervisor), Verbs: v(VerbReviewQuarantine), Types: recordTypes, Where: OwnTeam},  // items writing into their teams (never the directory)
	{Roles: r(RoleSupervisor), Verbs: v(VerbDecideConsent), Types: t(TypeReferral), Where: OwnTeam}, // share without consent

	// Practitioners: referrals addressed (and shared) to their service.
	{Roles: r(RolePractitioner), Verbs: v(VerbRead), Types: t(TypeReferral), Where: OwnService},
	{Roles: r(RolePractitioner), Verbs: v(VerbSet), Types: t(TypeReferral), Where: OwnService, Fields: serviceFields},
	{Roles: r(RolePractitioner), Verbs: v(VerbTransition), Types: t(TypeReferral), Where: OwnService, Transitions: serviceTransitions},

	// Admins: everything, services included, along the lifecycle.
	{Roles: r(RoleAdmin), Verbs: allVerbs, Types: anyType, Where: Anywhere, Transitions: allTransitions},
	// and only admins administer the organisation (people, teams, services).
	{Roles: r(RoleAdmin), Verbs: v(VerbAdminister), Types: t(TypeOrganisation), Where: Anywhere},
}

var (
	// recordTypes are the types a team's people may write; `service` records
	// (the directory) are the admin's.
	recordTypes = t(TypeEncounter, TypeYoungPerson, TypeReferral, TypeFollowUp)
	// serviceFields are what a service may write on a referral addressed to it.
	serviceFields = []string{"status", "outcome", "decline_reason"}
	// teamTransitions: the team drafts, submits, withdraws and closes what
	// the service finished with. Accepting and declining are the service's.
	teamTransitions = []Transition{
		{"", "draft"}, {"", "submitted"}, {"draft", "submitted"}, {"draft", "withdrawn"},
		{"submitted", "withdrawn"}, {"accepted", "withdrawn"}, {"declined", "closed"}, {"withdrawn", "closed"},
	}
	serviceTransitions = []Transition{{"submitted", "accepted"}, {"submitted", "declined"}, {"accepted", "closed"}}
	allTransitions     = append(append([]Transition(nil), teamTransitions...), serviceTransitions...)
	allVerbs           = v(VerbRead, VerbCreate, VerbSet, VerbTransition, VerbDelete, VerbUndelete, VerbErase, VerbResolve,
		VerbSignOff, VerbTransfer, VerbReceive, VerbReviewQuarantine, VerbDecideConsent, VerbAcknowledge, VerbMerge)
	anyType = []string{"*"}
)

func r(roles ...string) []string { return roles }
func v(verbs ...Verb) []Verb     { return verbs }
func t(types ...string) []string { return types }
