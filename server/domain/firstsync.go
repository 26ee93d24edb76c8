package domain

import (
	"math"
	"slices"
	"strconv"
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
// carries by default (the SDK's default). A busy team (fixtures.Week: 25
// workers, 2,000 encounters a week) writes about 1.5 MB of encounters a
// week; two weeks keep a first sync after a year of such history under
// 5 MB (bench/server: -run fieldsync). A small team can afford more.
const DefaultFieldWeeks = 2

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
// scope's records its first sync may have left out (Rest, from After):
// those filed before Since, and any changed after Seq (a closed follow-up
// edited, or reopened, since: its field_at moved, and the phone, which
// set its changes aside, may not hold it).
type FetchRequest struct {
	Device      Device
	Person      Person
	IDs         []string
	YoungPerson string
	Rest        bool
	Since       int64 // with Rest: the cutoff the first sync used
	Seq         int64 // with Rest: the log position of the first sync's last page
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

// RosterVersion is the version of the roster a device with scope holds
// when the store's roster counter (bumped by triggers on every change to
// people and supervised teams) is counter: a change to anyone, or to the
// device's teams or role, makes another, and the roster is sent again.
// Whatever version a request names, what is sent is the device's own.
func RosterVersion(counter int64, scope Scope) string {
	return strconv.FormatInt(counter, 10) + "." + scope.Tag()
}

// RosterFor is the team roster as phones receive it.
func RosterFor(version string, people []protocol.RosterPerson) *protocol.Roster {
	return &protocol.Roster{Version: version, Workers: append(make([]protocol.RosterPerson, 0, len(people)), people...)}
}

// RosterScope reports whether a device with scope has a roster: a team's
// phone. A service's or an admin's device is sent an empty one.
func RosterScope(scope Scope) bool {
	return !scope.All && !scope.Practitioner() && len(scope.Teams) > 0
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

// FetchedRecord is a stored record as a fetch reads it: where it is filed,
// for the policy, and its state.
type FetchedRecord struct {
	ID, Type, Team, Service string
	Erased                  bool
	State                   []byte
}

// FetchSource is what a store reads for a fetch, each in its own SQL.
type FetchSource interface {
	// Record reads one record; ok is false when there is none.
	Record(id string) (r FetchedRecord, ok bool, err error)
	// History reads what is filed under a young person of team (referrals,
	// follow-ups) and that team's encounters that name them.
	History(youngPerson, team string) ([]FetchedRecord, error)
	// Rest reads, in id order after after, the teams' records filed
	// before since or changed after seq, stopping at budget bytes (at
	// least one record).
	Rest(teams []string, since, seq int64, after string, budget int) (rows []FetchedRecord, more bool, err error)
	// RestCount counts those records up to after, and in all.
	RestCount(teams []string, since, seq int64, after string) (done, total int64, err error)
}

// Fetch answers req for a device of scope from src, under the policy's read
// rule (Scope.Contains), as a pull would. A record the device may not read,
// or that does not exist, is answered alike: not_found, and its id is
// returned as refused so the store can audit the attempt. The store audits
// what is sent (FetchAudit) in the same transaction.
func Fetch(scope Scope, req FetchRequest, src FetchSource) (res *FetchResult, refused string, err error) {
	if err := CheckFetch(scope, req); err != nil {
		return nil, "", err
	}
	readable := func(r FetchedRecord) bool { return !r.Erased && scope.Contains(r.Type, r.Team, r.Service) }
	notFound := Errorf(ENOTFOUND, "fetch", "record not found")
	res = &FetchResult{}
	var rows []FetchedRecord
	switch {
	case req.Rest:
		budget := req.PageBytes
		if budget <= 0 {
			budget = DefaultPageBytes
		}
		if rows, res.More, err = src.Rest(scope.Teams, req.Since, req.Seq, req.After, budget); err != nil {
			return nil, "", err
		}
		res.After = req.After
		if len(rows) > 0 {
			res.After = rows[len(rows)-1].ID
		}
		p := &protocol.Progress{Phase: "snapshot"}
		if p.Done, p.Total, err = src.RestCount(scope.Teams, req.Since, req.Seq, res.After); err != nil {
			return nil, "", err
		}
		if !res.More {
			p.Done = p.Total
		}
		res.Progress = p
	case req.YoungPerson != "":
		yp, ok, err := src.Record(req.YoungPerson)
		if err != nil {
			return nil, "", err
		}
		if !ok || !readable(yp) || yp.Type != syncengine.TypeYoungPerson {
			return nil, req.YoungPerson, notFound
		}
		hist, err := src.History(yp.ID, yp.Team)
		if err != nil {
			return nil, "", err
		}
		rows = append([]FetchedRecord{yp}, hist...)
	default:
		for _, id := range req.IDs {
			r, ok, err := src.Record(id)
			if err != nil {
				return nil, "", err
			}
			if !ok || !readable(r) {
				return nil, id, notFound
			}
			rows = append(rows, r)
		}
	}
	for _, r := range rows {
		if readable(r) && r.State != nil {
			res.Snapshots = append(res.Snapshots, r.State)
			res.SentRecords = append(res.SentRecords, r.ID)
		}
	}
	return res, "", nil
}

// FieldAtOf is FieldAt of a stored state; a state that does not decode
// stays in every subset rather than vanish from phones.
func FieldAtOf(state []byte) int64 {
	rec, err := syncengine.DecodeRecord(state)
	if err != nil {
		return FieldAlways
	}
	return FieldAt(rec)
}

// LinksOf is who a stored encounter met (nil if it does not decode: it is
// linked again when repaired, which is a new change).
func LinksOf(state []byte) []string {
	rec, err := syncengine.DecodeRecord(state)
	if err != nil {
		return nil
	}
	return LinkedYoungPeople(rec)
}

// FetchTx is a store's write transaction as a fetch uses it.
type FetchTx interface {
	FetchSource
	Scope(p Person) (Scope, error)
	Audit(e AuditEntry) error
}

// RunFetch is a store's Fetch: Fetch in one write transaction (inTx) that
// also audits what is sent; a refusal is audited by audit after it, since
// the refused transaction is rolled back.
func RunFetch(req FetchRequest, inTx func(fn func(FetchTx) error) error, audit func(AuditEntry) error) (*FetchResult, error) {
	var res *FetchResult
	var refused string
	err := inTx(func(tx FetchTx) error {
		res, refused = nil, ""
		scope, err := tx.Scope(req.Person)
		if err != nil {
			return err
		}
		if res, refused, err = Fetch(scope, req, tx); err != nil || len(res.SentRecords) == 0 {
			return err
		}
		return tx.Audit(FetchAudit(req, res))
	})
	if refused != "" {
		if aerr := audit(FetchRefusedAudit(req, refused)); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
