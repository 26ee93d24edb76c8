package domain

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// The engine side of an erasure, shared by both stores: which records a
// request still changes, and the edit that erases and redacts them. A store
// supplies the records as they stand in its transaction and writes what the
// edit produces (log, states, ledger, purge notices) in its own SQL.

// RedactedMarker replaces the words a redaction removes from an encounter.
const RedactedMarker = "[redacted]"

// ErrNothingToErase: the request changes nothing (all erased already).
var ErrNothingToErase = errors.New("nothing to erase")

// CheckErasure refuses a request without a reason and fills in its kind.
func CheckErasure(req *ErasureRequest) error {
	if strings.TrimSpace(req.Reason) == "" {
		return Errorf(EINVALID, "erase", "an erasure needs a reason")
	}
	if req.Kind == "" {
		req.Kind = ErasureByRequest
	}
	return nil
}

// ErrLegalHold refuses an erasure that touches a record under a legal hold.
func ErrLegalHold(record string) error {
	return Errorf(ECONFLICT, "erase", "record %s is under a legal hold: the hold must be lifted before it can be erased", record)
}

// ErasureTargets are the records a request touches (for the legal-hold check).
func ErasureTargets(req ErasureRequest) []string {
	ids := slices.Clone(req.Erase)
	for _, rd := range req.Redact {
		ids = append(ids, rd.EncounterID)
	}
	return ids
}

// Erasure is one erasure being carried out. Get returns a record as it
// stands in the store's transaction (nil: absent). Ledger, when set, is the
// ledger entries being applied again: their redactions name character ids,
// not words.
type Erasure struct {
	Req    ErasureRequest
	Ledger []LedgerEntry
	Get    func(id syncengine.RecordID) (*syncengine.Record, error)

	// Filled by Edit: the records erased and redacted, and the ledger
	// entries of the redactions (At and Reason still to set).
	Erased, Redacted []string
	Entries          []LedgerEntry
}

func (e *Erasure) live(id string) (*syncengine.Record, error) {
	r, err := e.Get(syncengine.RecordID(id))
	if err != nil || r == nil || r.Erased != nil {
		return nil, err
	}
	return r, nil
}

// Check returns ErrNothingToErase when the request would change nothing
// (every record already erased, no encounter left to redact), so nothing
// makes no changeset.
func (e *Erasure) Check() error {
	for _, rid := range e.Req.Erase {
		if r, err := e.live(rid); err != nil || r != nil {
			return err
		}
	}
	for _, rd := range e.Req.Redact {
		r, err := e.live(rd.EncounterID)
		if err != nil {
			return err
		}
		if r != nil && needsRedaction(r, rd, e.Ledger) {
			return nil
		}
	}
	return ErrNothingToErase
}

// Edit erases and redacts, as one engine transaction.
func (e *Erasure) Edit(tx *syncengine.Txn) error {
	e.Erased, e.Redacted, e.Entries = nil, nil, nil
	for _, rid := range e.Req.Erase {
		r, err := e.live(rid)
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		if err := tx.Erase(r.ID, e.Req.Reason); err != nil {
			return err
		}
		e.Erased = append(e.Erased, rid)
	}
	for _, rd := range e.Req.Redact {
		r, err := e.live(rd.EncounterID)
		if err != nil {
			return err
		}
		if r == nil || r.Type != syncengine.TypeEncounter {
			continue
		}
		le, did, err := redactEncounter(tx, r, rd, e.Ledger)
		if err != nil {
			return err
		}
		if did {
			e.Entries = append(e.Entries, le)
			e.Redacted = append(e.Redacted, rd.EncounterID)
		}
	}
	return nil
}

// Run makes the erasure one changeset of rep, written by the requester (or
// "server" for a request no person made, such as retention), and stamps the
// redactions' ledger entries with at and the request's kind.
func (e *Erasure) Run(rep *syncengine.Replica, at time.Time) error {
	by := e.Req.By
	if by == "" {
		by = "server"
	}
	if _, err := rep.Edit(by, e.Edit); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	for i := range e.Entries {
		e.Entries[i].At, e.Entries[i].Reason = at, e.Req.Kind
	}
	return nil
}

// Audit is the erasure's audit entry (ids and counts, never content); ok
// is false when there is nothing to audit.
func (e *Erasure) Audit(devices int) (AuditEntry, bool) {
	if e.Req.YoungPersonID == "" && len(e.Erased)+len(e.Redacted) == 0 {
		return AuditEntry{}, false
	}
	return AuditEntry{PersonID: e.Req.By, Action: ActionErase, RecordID: e.Req.YoungPersonID,
		Detail: map[string]any{"kind": e.Req.Kind, "erased": e.Erased, "redacted": e.Redacted, "devices": devices}}, true
}

// ReapplyRequest is the request that applies ledger entries again.
func ReapplyRequest(entries []LedgerEntry) ErasureRequest {
	req := ErasureRequest{Reason: "erasure applied again after a restore", Kind: ErasureReapplied}
	for _, e := range entries {
		switch e.Kind {
		case "erase":
			if !slices.Contains(req.Erase, e.Record) {
				req.Erase = append(req.Erase, e.Record)
			}
		case "redact":
			req.Redact = append(req.Redact, Redaction{EncounterID: e.Record, Unlink: e.Unlink})
		}
	}
	return req
}

func needsRedaction(r *syncengine.Record, rd Redaction, ledger []LedgerEntry) bool {
	if f := r.Fields["young_people"]; rd.Unlink != "" && f != nil && f.Kind == syncengine.KindSet && len(f.Set[rd.Unlink]) > 0 {
		return true
	}
	for name, f := range r.Fields {
		if f.Kind != syncengine.KindText {
			continue
		}
		if ledger != nil {
			for _, e := range ledger {
				if e.Record == string(r.ID) && len(f.VisiblePositions(e.Spans[name])) > 0 {
					return true
				}
			}
		} else if len(syncengine.RedactWords(r.String(name), rd.Words)) > 0 {
			return true
		}
	}
	return false
}

// redactEncounter removes the young person's link and the named words (or,
// applying the ledger again, the named characters) from an encounter.
func redactEncounter(tx *syncengine.Txn, r *syncengine.Record, rd Redaction, ledger []LedgerEntry) (LedgerEntry, bool, error) {
	e := LedgerEntry{Record: string(r.ID), Kind: "redact", Unlink: rd.Unlink, Spans: map[string][]syncengine.Span{}}
	did := false
	if f := r.Fields["young_people"]; rd.Unlink != "" && f != nil && f.Kind == syncengine.KindSet && len(f.Set[rd.Unlink]) > 0 {
		if err := tx.Remove(r.ID, "young_people", rd.Unlink); err != nil {
			return e, false, err
		}
		did = true
	}
	names := make([]string, 0, len(r.Fields))
	for name, f := range r.Fields {
		if f.Kind == syncengine.KindText {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		f := r.Fields[name]
		var cuts [][2]int // (pos, n), last first
		if ledger != nil {
			var spans []syncengine.Span
			for _, le := range ledger {
				if le.Record == string(r.ID) {
					spans = append(spans, le.Spans[name]...)
				}
			}
			cuts = positionsToCuts(f.VisiblePositions(spans))
		} else {
			cuts = syncengine.RedactWords(r.String(name), rd.Words)
		}
		for _, cut := range cuts {
			e.Spans[name] = append(e.Spans[name], f.TextSpans(cut[0], cut[1])...)
			if err := tx.DeleteText(r.ID, name, cut[0], cut[1]); err != nil {
				return e, false, err
			}
			if err := tx.InsertText(r.ID, name, cut[0], RedactedMarker); err != nil {
				return e, false, err
			}
			did = true
		}
	}
	return e, did, nil
}

// positionsToCuts groups ascending positions into (pos, n) runs, last first.
func positionsToCuts(pos []int) [][2]int {
	var cuts [][2]int
	for _, p := range pos {
		if k := len(cuts); k > 0 && cuts[k-1][0]+cuts[k-1][1] == p {
			cuts[k-1][1]++
			continue
		}
		cuts = append(cuts, [2]int{p, 1})
	}
	slices.Reverse(cuts)
	return cuts
}

// ConfirmedPurgeAudit is the audit entry of a phone confirming purges.
func ConfirmedPurgeAudit(req SyncRequest) AuditEntry {
	return AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: ActionPurged, Detail: map[string]any{"records": req.Purged}}
}

// ScrubBody is a stored changeset's body with what erasure removed scrubbed
// out (syncengine.PurgeChangeset against the records as they stand now),
// if it touches any of ids; changed is false when it needs no rewrite (it
// touches none of them, holds nothing erased, or does not decode and so
// holds nothing a reader gets).
func ScrubBody(body []byte, ids []string, current func(syncengine.RecordID) *syncengine.Record) ([]byte, bool) {
	cs, err := syncengine.DecodeChangeset(body)
	if err != nil {
		return nil, false
	}
	if !slices.ContainsFunc(cs.Records(), func(id syncengine.RecordID) bool { return slices.Contains(ids, string(id)) }) {
		return nil, false
	}
	out, changed := syncengine.PurgeChangeset(cs, current)
	if !changed {
		return nil, false
	}
	return syncengine.EncodeChangeset(out), true
}

// DeviceOwner is an active device and the person it belongs to.
type DeviceOwner struct{ Device, Person string }

// Holders adds to holders (device -> records) every active device whose
// owner's scope holds one of ids now: such a phone may have received it
// before pulls were audited per record, so it is told to purge too. A
// person the store no longer knows is skipped.
func Holders(holders map[string]map[string]bool, active []DeviceOwner, ids []string,
	scopeOf func(personID string) (Scope, bool, error), stored func(id string) (*Stored, error)) error {
	scopes := map[string]*Scope{}
	for _, x := range active {
		sc, seen := scopes[x.Person]
		if !seen {
			s, ok, err := scopeOf(x.Person)
			if err != nil {
				return err
			}
			if ok {
				sc = &s
			}
			scopes[x.Person] = sc
		}
		if sc == nil {
			continue
		}
		for _, id := range ids {
			st, err := stored(id)
			if err != nil {
				return err
			}
			if st.Exists && st.Rec != nil && sc.Contains(st.Rec.Type, st.Team, st.Service) {
				if holders[x.Device] == nil {
					holders[x.Device] = map[string]bool{}
				}
				holders[x.Device][id] = true
			}
		}
	}
	return nil
}
