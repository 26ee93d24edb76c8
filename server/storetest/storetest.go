// Package storetest is the conformance suite for JoinedUp stores: any
// implementation of the domain's store interfaces runs Run against itself
// (server/sqlite does, on a real file; a Postgres store will), so every
// backend keeps the same promises: each changeset applied exactly once,
// pulls paged within their budget and resumable, each person seeing only
// their scope, refused changesets kept for review, acknowledged history
// compacted without losing a returning phone, an append-only audit log, and
// push outbox leases that two senders never share.
//
// It is written against server/domain only, and drives the store the way the
// API does (enrol, authenticate, sync) with phones that are real engine
// replicas.
package storetest

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// Store is the store as the suite uses it.
type Store interface {
	domain.SyncStore
	domain.FetchStore
	domain.RecordReader
	domain.DeviceStore
	domain.Directory
	domain.QuarantineStore
	domain.AuditLog
	domain.Operations
	domain.StaffSignIn
	domain.Accounts
	domain.TwoFactor
	domain.TransferStore
	domain.PrivacyStore
	domain.Searcher
	domain.SavedFilters
}

// Harness is one freshly opened, empty, migrated store.
type Harness struct {
	Store  Store
	Outbox domain.Outbox
	Tokens domain.PushTokens
	// SetNow sets the store's clock: enrolment, device activity and
	// compaction depend on it.
	SetNow func(time.Time)
	// SetBounds sets the per-device quarantine bounds.
	SetBounds func(domain.QuarantineBounds)
	// SetRules sets the notification rules the store settles accepted
	// changes with (nil: none).
	SetRules func(domain.Rules)
	// RecordRows reads a record's bookkeeping no interface returns: its
	// updated_seq and how many changeset_records rows name it.
	RecordRows func(id string) (updatedSeq, links int64, err error)
	// Peer returns another node on the same database, or the store itself
	// where there is one node (SQLite): what it writes, the store must see.
	Peer func() Store
}

// Run runs every conformance test, each against a store of its own from open.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"ApplyIsIdempotent", testApplyIsIdempotent},
		{"RepeatsInOneRequest", testRepeatsInOneRequest},
		{"PullPagesWithinBudget", testPullPagesWithinBudget},
		{"ScopeOfWorkerAndPractitioner", testScopes},
		{"QuarantineKeepsRefusedChangesets", testQuarantine},
		{"ReviewDecidedWhereFiledNow", testReviewDecidedWhereFiledNow},
		{"QuarantineListedWhereFiledNow", testQuarantineListedWhereFiledNow},
		{"CompactionResetsPhoneBehind", testCompaction},
		{"TextCompactionPlacesLateEdits", testTextCompaction},
		{"TextCompactionRandomHistories", testTextCompactionRandomHistories},
		{"TextCompactionPastLostPhones", testTextCompactionPastLostPhones},
		{"QuarantineReleaseAfterTextCompaction", testQuarantineReleaseAfterTextCompaction},
		{"HeldTextEditAfterTextCompaction", testHeldTextEditAfterCompaction},
		{"TextCompactionWithQuarantineRandom", testTextCompactionWithQuarantineRandom},
		{"KeptAsideSaveAppliedAfterLaterSaves", testKeptAsideSaveAfterLaterSaves},
		{"TextCompactionUnsentDeleteOverRebase", testTextCompactionUnsentDeleteOverRebase},
		{"TextCompactionReachesPhones", testTextCompactionReachesPhones},
		{"TextCompactionPhonesTakeRandom", testTextCompactionPhonesTakeRandom},
		{"TextCompactionSentWhenWorthIt", testTextCompactionSentWhenWorthIt},
		{"TextCompactionThenMoved", testTextCompactionThenMoved},
		{"TextCompactedStatesPage", testTextCompactedStatesPage},
		{"TextCompactionBlockingPhoneTakesIt", testTextCompactionBlockingPhoneTakesIt},
		{"TwoRebasesInOnePage", testTwoRebasesInOnePage},
		{"AuditIsAppendOnly", testAudit},
		{"AuditRowPerChangeset", testAuditRowPerChangeset},
		{"OutboxLeases", testOutboxLeases},
		{"RulesSettleARequestsChangesInOrder", testRulesSettleInOrder},
		{"RequestStoresEachRecordsLastState", testRequestStoresLastState},
		{"RulesSeeTheOrganisationAsChanged", testRulesSeeOrgChanges},
		{"PolicySeesTheOrganisationAsChanged", testPolicySeesOrgChanges},
		{"PersonLanguage", testPersonLanguage},
		{"SessionsInTheStore", testSessions},
		{"SignInThrottleInTheStore", testSignInThrottle},
		{"PasswordLinksOnce", testPasswordLinks},
		{"DeactivateEndsAccess", testDeactivate},
		{"TwoFactorStepsOnce", testTwoFactor},
		{"SSOStatesOnce", testSSOStates},
		{"TransfersBetweenTeams", testTransfers},
		{"ErasureReachesEveryCopy", testErasure},
		{"LateSavesOfErasedRecordsKeptRedacted", testLateSavesOfErasedRecords},
		{"PushOnlySyncIsRecorded", testPushOnlySyncIsRecorded},
		{"RetentionPlanIsWhatRuns", testRetention},
		{"AuditChainVerifies", testAuditChain},
		{"HeldUntilDependencyArrives", testHeld},
		{"SearchFollowsEveryChange", testSearch},
		{"SavedFiltersPerPerson", testSavedFilters},
		{"FirstSyncIsTheFieldSubset", testFirstSyncFieldSubset},
		{"FetchedRecordsFollowTheLog", testFetchedRecordsFollow},
		{"FetchIsScopedAndAudited", testFetchScoped},
		{"FetchRestPagesTheRest", testFetchRest},
		{"DirectoryReachesPhones", testDirectory},
		{"RosterIsTheDevicesOwnTeam", testRoster},
		{"WorkersPresentAreTheTeams", testWorkersPresent},
		{"PeopleMoveBackAndForth", testPeopleMoveBackAndForth},
		{"PartialPhoneConverges", testPartialPhoneConverges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, open(t))
			e.open = open
			tc.fn(t, e)
		})
	}
}

// t0 is a Monday evening, when youth workers are out.
var t0 = time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	h   Harness
	s   Store
	ctx context.Context
	now time.Time
	// open opens another store, for a test of several cases each on a
	// store of its own (sub).
	open func(t *testing.T) Harness
}

// sub is a fresh store and env for subtest t.
func (e *env) sub(t *testing.T) *env {
	n := newEnv(t, e.open(t))
	n.open = e.open
	return n
}

func newEnv(t *testing.T, h Harness) *env {
	e := &env{t: t, h: h, s: h.Store, ctx: context.Background(), now: t0}
	h.SetNow(t0)
	e.seed()
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// advance moves the store's clock on.
func (e *env) advance(d time.Duration) {
	e.now = e.now.Add(d)
	e.h.SetNow(e.now)
}

// seed is a small organisation: two teams, a supervisor of the first, a
// worker in each, and a housing service with a practitioner, sharing only
// what the agreement names.
func (e *env) seed() {
	e.must(e.s.UpsertArea(e.ctx, domain.Area{ID: "north", Name: "North"}))
	for _, tm := range []string{"team_a", "team_b"} {
		e.must(e.s.UpsertTeam(e.ctx, domain.Team{ID: tm, AreaID: "north", Name: tm}))
	}
	e.must(e.s.UpsertService(e.ctx, domain.Service{ID: "svc_housing", Name: "Housing", Kind: "housing", TZ: "Europe/London",
		SharedFields: []string{"reason", "urgency", "known_as"}}))
	e.must(e.s.UpsertPeople(e.ctx, []domain.Person{
		{ID: "w_a", Name: "Robin Worker", Role: domain.RoleWorker, TeamID: "team_a", TZ: "Europe/London"},
		{ID: "w_b", Name: "Sam Worker", Role: domain.RoleWorker, TeamID: "team_b", TZ: "Europe/London"},
		{ID: "sup_a", Name: "Alex Supervisor", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a"}, TZ: "Europe/London"},
		{ID: "prac_h", Name: "Pat Housing", Role: domain.RolePractitioner, ServiceID: "svc_housing", TZ: "Europe/London"},
	}))
}

// phone is an enrolled device: a real engine replica that syncs through
// Store.Sync as the API would.
type phone struct {
	e      *env
	enrol  domain.Enrolment
	store  *syncengine.MemStore
	rep    *syncengine.Replica
	outbox []*syncengine.Changeset
	cursor string
	// A field-subset first sync (FieldWeeks > 0) leaves the phone partial:
	// it applies only HeldPart of what it pulls. dir is its directory.
	fieldWeeks int
	partial    bool
	since      int64
	seq        int64 // the subset's field_seq
	dir        *protocol.Directory
	roster     *protocol.Roster
	// skew is how far the phone's clock is ahead of the store's.
	skew time.Duration
	made []*syncengine.Changeset // every change saved, as saved
	// tookCompacted counts compacted snapshots it took (Response.Compacted).
	tookCompacted int
	// unsent are saves the phone holds but is not sending (reportCursor).
	unsent []*syncengine.Changeset
}

// replayUnsent is r with the phone's unsent saves applied again on top, as
// far as they apply (the SDK's outbox replay over a snapshot).
func (p *phone) replayUnsent(r *syncengine.Record) *syncengine.Record {
	get := func(id syncengine.RecordID) (*syncengine.Record, error) {
		if id == r.ID {
			return r, nil
		}
		return p.store.Record(id)
	}
	for _, cs := range p.unsent {
		res, err := syncengine.Apply(cs, get)
		if err != nil || res.Status != syncengine.Applied {
			continue
		}
		for _, rec := range res.Records {
			if rec.ID == r.ID {
				r = rec
			}
		}
	}
	return r
}

func (e *env) enrolPhone(personID string) *phone {
	e.t.Helper()
	code, _, err := e.s.IssueEnrolmentCode(e.ctx, personID, "sup_a")
	e.must(err)
	en, err := e.s.Enrol(e.ctx, code, "android")
	e.must(err)
	id, err := syncengine.ParseReplicaID(en.ReplicaID)
	e.must(err)
	p := &phone{e: e, enrol: en, store: syncengine.NewMemStore()}
	p.rep, err = syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return e.now.Add(p.skew) }, Rand: rand.Reader, Store: p.store})
	e.must(err)
	return p
}

// edit saves one change on the phone; it is pushed at the next sync.
func (p *phone) edit(fn func(tx *syncengine.Txn) error) *syncengine.Changeset {
	p.e.t.Helper()
	cs, err := p.rep.Edit(p.enrol.PersonID, fn)
	p.e.must(err)
	p.outbox = append(p.outbox, cs)
	p.made = append(p.made, cs)
	return cs
}

func set(tx *syncengine.Txn, id syncengine.RecordID, kv ...any) error {
	for i := 0; i < len(kv); i += 2 {
		if err := tx.Set(id, kv[i].(string), kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (p *phone) encounter(team, note string) syncengine.RecordID {
	var id syncengine.RecordID
	p.edit(func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		if err := set(tx, id, "team_id", team, "area", "by the skate ramp", "started_at", p.e.now.Add(-time.Hour)); err != nil {
			return err
		}
		return tx.InsertText(id, "note", 0, note)
	})
	return id
}

// sync pushes the outbox and pulls one page, applying it as the phone does.
func (p *phone) sync(pageBytes int) *domain.SyncResult {
	p.e.t.Helper()
	dev, person, err := p.e.s.Authenticate(p.e.ctx, p.enrol.Credential)
	p.e.must(err)
	dirVersion := ""
	if p.dir != nil {
		dirVersion = p.dir.Version
	}
	rosterVersion := ""
	if p.roster != nil {
		rosterVersion = p.roster.Version
	}
	// Each changeset arrives in its own canonical frame, as the SDK sends
	// it and the API hands it on (domain.SyncRequest.Received), so every
	// test's pulls read logged frames the way production's do.
	received := make([][]byte, len(p.outbox))
	for i, cs := range p.outbox {
		received[i] = syncengine.EncodeChangeset(cs)
	}
	res, err := p.e.s.Sync(p.e.ctx, domain.SyncRequest{Device: dev, Person: person, Changesets: p.outbox, Received: received,
		Cursor: p.cursor, PageBytes: pageBytes, FieldWeeks: p.fieldWeeks, DirectoryVersion: dirVersion, RosterVersion: rosterVersion})
	p.e.must(err)
	if res.Directory != nil {
		p.dir = res.Directory
	}
	if res.Roster != nil {
		p.roster = res.Roster
	}
	if res.Partial {
		p.partial, p.since = true, res.FieldSince
	}
	if res.FieldSeq > 0 {
		p.seq = res.FieldSeq
	}
	p.outbox = nil
	if res.Reset {
		for _, r := range p.store.Records() {
			p.store.Drop(r.ID)
		}
	}
	for _, id := range res.Drop {
		p.store.Drop(syncengine.RecordID(id))
	}
	// As the SDK does (mobile-sdk storePage): a snapshot the phone's copy
	// covers is ignored unless the server marks it a rebase; one sent
	// because its text was compacted replaces a copy it covers, or with the
	// phone's unsent saves applied again on top covers, and is ignored by a
	// phone not holding the record.
	for _, b := range res.Snapshots {
		recs, err := syncengine.DecodeSnapshot(b)
		p.e.must(err)
		for _, r := range recs {
			have, rebase := p.record(r.ID), slices.Contains(res.Rebase, string(r.ID))
			if slices.Contains(res.Compacted, string(r.ID)) && !rebase {
				if have == nil {
					continue
				}
				if !r.VV.Covers(have.VV) {
					r = p.replayUnsent(r)
				}
				if r.VV.Covers(have.VV) {
					p.store.Put(r)
					p.tookCompacted++
				}
				continue
			}
			if have != nil && have.VV.Covers(r.VV) && !rebase {
				continue
			}
			p.store.Put(r)
		}
	}
	for _, b := range res.Changesets {
		cs, err := syncengine.DecodeChangeset(b)
		p.e.must(err)
		if p.partial {
			var ok bool
			if cs, ok = protocol.HeldPart(cs, func(id syncengine.RecordID) bool { return p.record(id) != nil }); !ok {
				continue
			}
		}
		if _, err := p.rep.Apply(cs); err != nil {
			p.e.t.Fatalf("apply pulled changeset: %v", err)
		}
	}
	p.cursor = res.Cursor
	return res
}

// syncAll syncs until the server has nothing more; it returns the pages.
func (p *phone) syncAll(pageBytes int) []*domain.SyncResult {
	p.e.t.Helper()
	var pages []*domain.SyncResult
	for range 1000 {
		r := p.sync(pageBytes)
		pages = append(pages, r)
		if !r.More {
			return pages
		}
	}
	p.e.t.Fatal("pull never finished")
	return nil
}

func (p *phone) record(id syncengine.RecordID) *syncengine.Record {
	r, err := p.store.Record(id)
	p.e.must(err)
	return r
}
