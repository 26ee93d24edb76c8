package domain

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Retention's rules, shared by both stores: which records a run removes and
// which it keeps for a hold. The stores read rules, holds and records; the
// preview and the run compute the plan with PlanRetention, so the preview is
// what the run removes (at the same clock).

// RetentionEvery is how often retention runs.
const RetentionEvery = 24 * time.Hour

// MetaRetentionLast is the meta key of when the retention run last ran.
const MetaRetentionLast = "retention_last_run"

// CheckRetentionRule refuses a type without a schedule or an out-of-range period.
func CheckRetentionRule(rule RetentionRule) error {
	if _, ok := RetentionBasis[rule.Type]; !ok {
		return Errorf(EINVALID, "set retention", "record type %q has no retention schedule (encounter, referral, follow_up)", rule.Type)
	}
	if rule.KeepDays < 30 || rule.KeepDays > 36500 {
		return Errorf(EINVALID, "set retention", "keep_days must be 30 to 36500 days")
	}
	return nil
}

// RetentionRuleAudit is the audit entry of a changed period.
func RetentionRuleAudit(rule RetentionRule, by string) AuditEntry {
	return AuditEntry{PersonID: by, Action: ActionSettings, Detail: map[string]any{"type": rule.Type, "keep_days": rule.KeepDays}}
}

// CheckLegalHold refuses a hold without a record or a reason.
func CheckLegalHold(h LegalHold) error {
	if h.RecordID == "" || len(h.Reason) < 5 {
		return Errorf(EINVALID, "legal hold", "a legal hold needs a record and a reason")
	}
	return nil
}

// LegalHoldAudit is the audit entry of placing ("placed") or lifting ("lifted") a hold.
func LegalHoldAudit(recordID, by, what string) AuditEntry {
	return AuditEntry{PersonID: by, Action: ActionHold, RecordID: recordID, Detail: map[string]any{"hold": what}}
}

// RetentionRunAudit is the audit entry of a run.
func RetentionRunAudit(run RetentionRun) AuditEntry {
	return AuditEntry{Action: ActionRetain, Detail: map[string]any{"run": run.ID, "removed": run.Removed, "held": run.Held}}
}

// RetentionDue reports whether a run is due, given when the last ran ("": never).
func RetentionDue(now, last time.Time) bool {
	return last.IsZero() || now.Sub(last) >= RetentionEvery
}

// StoredRecord is a record's id and stored state, as a store reads it.
type StoredRecord struct {
	ID    string
	State []byte
}

// PlanRetention is what a run at now removes: records of each rule's type,
// not erased (recordsOf), whose basis date is older than the period, except
// those under a legal hold (legal) or about a young person under a
// safeguarding hold (state reads a record's stored state, nil if absent).
func PlanRetention(now time.Time, rules []RetentionRule, legal map[string]bool,
	recordsOf func(typ string) ([]StoredRecord, error), state func(id string) ([]byte, error)) (RetentionPlan, error) {
	plan := RetentionPlan{At: now, Remove: []RetentionItem{}, Held: []RetentionItem{}}
	ypHold := map[string]bool{}
	safeguarding := func(id string) (bool, error) {
		if h, ok := ypHold[id]; ok {
			return h, nil
		}
		b, err := state(id)
		if err != nil {
			return false, err
		}
		if b == nil {
			ypHold[id] = false
			return false, nil
		}
		yp, err := syncengine.DecodeRecord(b)
		if err != nil {
			return false, fmt.Errorf("stored record %s: %w", id, err)
		}
		ypHold[id] = SafeguardingHold(yp)
		return ypHold[id], nil
	}
	for _, rule := range rules {
		cutoff := now.Add(-time.Duration(rule.KeepDays) * 24 * time.Hour)
		recs, err := recordsOf(rule.Type)
		if err != nil {
			return plan, err
		}
		for _, x := range recs {
			r, err := syncengine.DecodeRecord(x.State)
			if err != nil {
				return plan, fmt.Errorf("stored record %s: %w", x.ID, err)
			}
			since, ok := RetentionSince(r)
			if !ok || since.After(cutoff) {
				continue
			}
			item := RetentionItem{RecordID: x.ID, Type: r.Type, Since: since}
			if legal[x.ID] {
				item.Hold = "legal"
			} else {
				for _, yp := range LinkedYoungPeople(r) {
					if h, err := safeguarding(yp); err != nil {
						return plan, err
					} else if h {
						item.Hold = "safeguarding"
						break
					}
				}
			}
			if item.Hold != "" {
				plan.Held = append(plan.Held, item)
			} else {
				plan.Remove = append(plan.Remove, item)
			}
		}
	}
	sort.Slice(plan.Remove, func(i, j int) bool { return plan.Remove[i].RecordID < plan.Remove[j].RecordID })
	return plan, nil
}

// RetentionErasure is the erasure a run does for plan.
func RetentionErasure(plan RetentionPlan) ErasureRequest {
	req := ErasureRequest{Reason: "retention period ended", Kind: ErasureRetention}
	for _, it := range plan.Remove {
		req.Erase = append(req.Erase, it.RecordID)
	}
	return req
}

// CarryOutRetention is a run of plan at at: erase, the store's erasure in
// its running transaction, removes what plan removes (called only when
// there is something to remove). The run's Removed is sorted and never nil,
// for the report; touched is the erasure's scope keys, for the live channel.
func CarryOutRetention(at time.Time, plan RetentionPlan, erase func(ErasureRequest) (ErasureResult, error)) (run RetentionRun, touched []string, err error) {
	run = RetentionRun{At: at, Removed: []string{}, Held: len(plan.Held)}
	if len(plan.Remove) > 0 {
		res, err := erase(RetentionErasure(plan))
		if err != nil {
			return run, nil, err
		}
		run.Removed, touched = append(run.Removed, res.Erased...), res.Touched
	}
	slices.Sort(run.Removed)
	return run, touched, nil
}

// AccessOf turns one audit row into an access of the wanted records: a
// phone's pull is a "download", a portal page a "read", an export an
// "export". detailRecords is the row's detail "records" list.
func AccessOf(id int64, at time.Time, person, device, action, record string, detailRecords []string, want map[string]bool) Access {
	a := Access{AuditID: id, At: at, PersonID: person, DeviceID: device, How: action}
	if action == "sync" {
		a.How = "download"
	}
	if want[record] {
		a.Records = append(a.Records, record)
	}
	for _, r := range detailRecords {
		if want[r] && !slices.Contains(a.Records, r) {
			a.Records = append(a.Records, r)
		}
	}
	sort.Strings(a.Records)
	return a
}
