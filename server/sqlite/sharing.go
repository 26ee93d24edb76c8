package sqlite

import (
	"encoding/json"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// recordConsentDecisions records a sharing decision for every consent write
// on a referral in an accepted changeset, inside its transaction: who decided
// (the recorded decision-maker, else the author), why, and when. Safeguarding
// sharing decisions must never depend on a supervisor remembering to log them
// separately. "not_asked" is no decision and is not recorded.
func (a *applier) recordConsentDecisions(cs *syncengine.Changeset, rec *syncengine.Record) error {
	if rec.Type != syncengine.TypeReferral || rec.Erased != nil {
		return nil
	}
	for _, op := range cs.Ops {
		if op.Kind != syncengine.OpSet || op.Record != rec.ID || op.Field != "consent" {
			continue
		}
		var decision string
		if json.Unmarshal(op.Value, &decision) != nil || decision == "not_asked" {
			continue
		}
		d := domain.SharingDecision{ReferralID: string(rec.ID), Decision: decision, DecidedBy: cs.Author, At: cs.Time.Time()}
		if by := rec.String("consent_decided_by"); by != "" && decision == "shared_without_consent" {
			d.DecidedBy = by
		}
		if decision == "shared_without_consent" {
			d.Justification = rec.String("consent_justification")
		}
		if err := recordSharingDecision(a.ctx, a.tx, d); err != nil {
			return err
		}
	}
	return nil
}
