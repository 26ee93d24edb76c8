package sqlite

import (
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// recordConsentDecisions records a sharing decision for every consent write
// on a referral in an accepted changeset, inside its transaction: who decided
// (the recorded decision-maker, else the author), why, and when. Safeguarding
// sharing decisions must never depend on a supervisor remembering to log them
// separately. Which writes are decisions is the domain's (ConsentDecisions).
func (a *applier) recordConsentDecisions(cs *syncengine.Changeset, rec *syncengine.Record) error {
	for _, d := range domain.ConsentDecisions(cs, rec) {
		if err := recordSharingDecision(a.ctx, a.tx, d); err != nil {
			return err
		}
	}
	return nil
}
