package syncengine

// Filing is where a record is filed: the team that owns it, the service a
// referral is shared with ("" unless it is submitted and consent allows it),
// and the young person it is about. The server stores it beside each record
// and decides access by it; the phone indexes its records by the same rule.
type Filing struct {
	Team, Service, YoungPerson string
}

// FileRecord derives where r is filed:
//   - a referral or follow-up belongs to its young person's team (a
//     follow-up without one, to its referral's team), as teamOf reports it;
//   - any other record stays with the team it is already filed under (own),
//     the team that created it: writing its team_id field does not move it;
//   - only when neither is known (a new record, a young person the caller
//     does not hold, a phone that files by fields) does the record's own
//     team_id field decide, and then the server's policy checks that the
//     writer belongs to that team.
//
// own is "" on the phone and for a new record. teamOf returns the team a
// record is filed under, "" if unknown. An erased record has lost its
// fields; the caller keeps its previous filing.
func FileRecord(r *Record, own string, teamOf func(RecordID) string) Filing {
	var f Filing
	switch r.Type {
	case TypeReferral, TypeFollowUp:
		f.YoungPerson = r.String("young_person_id")
		if f.YoungPerson != "" {
			f.Team = teamOf(RecordID(f.YoungPerson))
		} else if ref := r.String("referral_id"); r.Type == TypeFollowUp && ref != "" {
			f.Team = teamOf(RecordID(ref))
		}
	case TypeYoungPerson:
		f.YoungPerson = string(r.ID)
	}
	if f.Team == "" {
		f.Team = own
	}
	if f.Team == "" {
		f.Team = r.String("team_id")
	}
	if r.Type == TypeReferral && ReferralShared(r) {
		f.Service = r.String("service_id")
	}
	return f
}

// ReferralShared reports whether a referral's current state lets its service
// see it: submitted (or further along), and consent that permits sharing.
// Withdrawing consent takes it out of the service's scope.
func ReferralShared(r *Record) bool {
	status := r.String("status")
	if status == "" || status == "draft" {
		return false
	}
	return ConsentPermitsSharing(r.String("consent"), r.String("consent_justification") != "")
}

// ConsentPermitsSharing: consent given, or shared without consent with a
// recorded justification. (Who may decide to share without consent is the
// server's policy, checked when the referral is submitted.)
func ConsentPermitsSharing(consent string, justified bool) bool {
	return consent == "given" || (consent == "shared_without_consent" && justified)
}
