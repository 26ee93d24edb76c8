package domain

import (
	"encoding/json"

	"github.com/joinedup/joinedup/syncengine"
)

// ConsentDecisions are the safeguarding sharing decisions a stored change to
// a referral records: one per consent the changeset sets (not "not_asked"),
// by its author, or for sharing without consent by the named decision-maker
// with their justification. Every store writes them with the change.
func ConsentDecisions(cs *syncengine.Changeset, rec *syncengine.Record) []SharingDecision {
	if rec.Type != syncengine.TypeReferral || rec.Erased != nil {
		return nil
	}
	var out []SharingDecision
	for _, op := range cs.Ops {
		if op.Kind != syncengine.OpSet || op.Record != rec.ID || op.Field != "consent" {
			continue
		}
		var decision string
		if json.Unmarshal(op.Value, &decision) != nil || decision == "not_asked" {
			continue
		}
		d := SharingDecision{ReferralID: string(rec.ID), Decision: decision, DecidedBy: cs.Author, At: cs.Time.Time()}
		if by := rec.String("consent_decided_by"); by != "" && decision == "shared_without_consent" {
			d.DecidedBy = by
		}
		if decision == "shared_without_consent" {
			d.Justification = rec.String("consent_justification")
		}
		out = append(out, d)
	}
	return out
}
