package api_test

import (
	"context"
	"testing"

	"github.com/joinedup/joinedup/syncengine"
)

// TestConsentDecisionsAreRecorded: a referral submitted from a phone with
// consent given, then shared without consent by a supervisor with a
// justification, leaves both decisions in the sharing record with who, why
// and when, written in the same transaction as the change.
func TestConsentDecisionsAreRecorded(t *testing.T) {
	e := newEnv(t)
	a1 := e.enrolPhone("w_a")
	var ref syncengine.RecordID
	a1.edit(func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "young_person_id": "yp_1", "service_id": "svc_housing", "urgency": "soon", "consent": "not_asked", "status": "draft"} {
			must(t, tx.Set(ref, k, v))
		}
		return tx.InsertText(ref, "reason", 0, "Sofa surfing")
	})
	a1.edit(func(tx *syncengine.Txn) error { return tx.Set(ref, "consent", "given") })
	if r := a1.sync(0); len(r.Results) != 2 || r.Results[1].Status != "accepted" {
		t.Fatalf("push: %s", r.raw)
	}
	sup := e.enrolPhone("sup_a")
	sup.syncAll()
	sup.edit(func(tx *syncengine.Txn) error {
		must(t, tx.Set(ref, "consent_justification", "Immediate risk of harm; strategy discussion agreed sharing"))
		must(t, tx.Set(ref, "consent_decided_by", "sup_a"))
		return tx.Set(ref, "consent", "shared_without_consent")
	})
	if r := sup.sync(0); r.Results[0].Status != "accepted" {
		t.Fatalf("supervisor push: %s", r.raw)
	}
	got, err := e.db.SharingDecisions(context.Background(), string(ref))
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("want 2 decisions (not_asked is none), got %+v", got)
	}
	if got[0].Decision != "given" || got[0].DecidedBy != "w_a" {
		t.Errorf("first decision %+v", got[0])
	}
	if got[1].Decision != "shared_without_consent" || got[1].DecidedBy != "sup_a" || got[1].Justification == "" || got[1].At.IsZero() {
		t.Errorf("second decision %+v", got[1])
	}
}
