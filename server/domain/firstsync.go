package domain

import (
	"math"
	"slices"
	"time"

	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// A phone's first sync carries the field subset of its scope, not the
// team's whole history: every young person, open referrals and follow-ups,
// and what was of use in the last weeks (docs/sync-protocol.md, "First
// sync"). The store files each record with FieldAt, the time until which it
// counts as recent, and a first sync sends the records at or after its
// cutoff. Older records come on demand (Fetch).

// FieldAlways is FieldAt for records every phone of the team holds.
const FieldAlways int64 = math.MaxInt64

// DefaultFieldWeeks is how many weeks of encounters a phone's first sync
// carries when the phone does not say (the SDK's default too).
const DefaultFieldWeeks = 4

// MaxFieldWeeks bounds what a phone may ask for (ten years: everything).
const MaxFieldWeeks = 520

// FieldAt is the unix second from which rec stops being of use in the
// field unless opened: FieldAlways for young people, open referrals and
// open follow-ups; when an encounter started; when a closed referral or
// follow-up last changed (or fell due). Deleted and erased records are 0:
// no first sync carries them. Types it does not know are FieldAlways, so a
// new type is never silently left off a phone.
func FieldAt(rec *syncengine.Record) int64 {
	if rec == nil || rec.Erased != nil || rec.Deleted() {
		return 0
	}
	updated := rec.Updated.Time().Unix()
	switch rec.Type {
	case syncengine.TypeYoungPerson:
		return FieldAlways
	case syncengine.TypeReferral:
		switch rec.String("status") {
		case "draft", "submitted", "accepted", "":
			return FieldAlways
		}
		return updated
	case syncengine.TypeFollowUp:
		if s := rec.String("status"); s == "open" || s == "" {
			return FieldAlways
		}
		if due := rec.Time("due_at"); !due.IsZero() && due.Unix() > updated {
			return due.Unix()
		}
		return updated
	case syncengine.TypeEncounter:
		if t := rec.Time("started_at"); !t.IsZero() {
			return t.Unix()
		}
		return updated
	}
	return FieldAlways
}

// FieldSince is the cutoff of a first sync of weeks weeks at now (0: the
// whole history, as phones that do not ask receive).
func FieldSince(now time.Time, weeks int) int64 {
	if weeks <= 0 {
		return 0
	}
	weeks = min(weeks, MaxFieldWeeks)
	return now.Add(-time.Duration(weeks) * 7 * 24 * time.Hour).Unix()
}

// FetchRequest asks for records a phone does not hold: named ones (opened
// on the phone), a young person's whole history, or the next page of the
// scope's records older than the phone's first sync (Rest, from After).
type FetchRequest struct {
	Device      Device
	Person      Person
	IDs         []string
	YoungPerson string
	Rest        bool
	Since       int64 // with Rest: the cutoff the first sync used
	After       string
	PageBytes   int
}

// FetchResult is what a fetch sends: record snapshots (JUS frames) as the
// device's scope sees them.
type FetchResult struct {
	Snapshots [][]byte
	After     string // with Rest: where the next page starts
	More      bool
	Progress  *protocol.Progress
	// SentRecords are the ids the snapshots carry (the read audit).
	SentRecords []string
}

// MaxFetchIDs bounds how many records one fetch may name.
const MaxFetchIDs = 500

// DirectoryFor is the service directory as phones receive it.
func DirectoryFor(version string, svcs []Service) *protocol.Directory {
	d := &protocol.Directory{Version: version, Services: make([]protocol.DirectoryService, 0, len(svcs))}
	for _, s := range svcs {
		d.Services = append(d.Services, protocol.DirectoryService{ID: s.ID, Name: s.Name, Kind: s.Kind, Contact: s.Contact,
			Hours: s.Hours, TZ: s.TZ, Pathway: s.Pathway, SharedFields: s.SharedFields})
	}
	return d
}

// CheckFetch refuses what no fetch may ask, whoever asks: a service's and
// an admin's devices hold their whole scope already; paging the rest needs
// the cutoff the first sync used; one of ids, a young person or rest.
func CheckFetch(scope Scope, req FetchRequest) error {
	asked := 0
	for _, b := range []bool{len(req.IDs) > 0, req.YoungPerson != "", req.Rest} {
		if b {
			asked++
		}
	}
	switch {
	case asked != 1:
		return Errorf(EINVALID, "fetch", "ask for exactly one of records, young_person or rest")
	case len(req.IDs) > MaxFetchIDs:
		return Errorf(EINVALID, "fetch", "at most %d records per fetch", MaxFetchIDs)
	case req.Rest && req.Since <= 0:
		return Errorf(EINVALID, "fetch", "rest needs since: the field_since of the first sync")
	}
	for _, id := range append(slices.Clone(req.IDs), req.YoungPerson) {
		if id != "" && !syncengine.ValidRecordID(id) {
			return Errorf(EINVALID, "fetch", "not a record id")
		}
	}
	if req.After != "" && !syncengine.ValidRecordID(req.After) {
		return Errorf(EINVALID, "fetch", "after is not a record id")
	}
	if scope.Practitioner() {
		return Errorf(EFORBIDDEN, "fetch", "a service's devices receive every referral shared with the service; there is nothing to fetch")
	}
	if req.Rest && !fieldSubsetScope(scope) {
		return Errorf(EINVALID, "fetch", "this device's first sync carried its whole scope; there is nothing older to fetch")
	}
	return nil
}

func fieldSubsetScope(s Scope) bool { return !s.All && !s.Practitioner() && len(s.Teams) > 0 }

// FetchAudit is the audit entry of a fetch: a read of what it sent, filed
// as a pull's is ("sync", the record ids) so AccessHistory shows it.
func FetchAudit(req FetchRequest, res *FetchResult) AuditEntry {
	ids := slices.Clone(res.SentRecords)
	slices.Sort(ids)
	return AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: "sync",
		Detail: map[string]any{"op": "fetch", "snapshots_sent": len(res.Snapshots), "records": slices.Compact(ids)}}
}

// FetchRefusedAudit records a fetch of a record the device may not read
// (or that does not exist): for oversight, who asked for what.
func FetchRefusedAudit(req FetchRequest, id string) AuditEntry {
	return AuditEntry{PersonID: req.Person.ID, DeviceID: req.Device.ID, Action: ActionRefused, RecordID: id,
		Detail: map[string]any{"reason": "fetch_not_readable"}}
}
