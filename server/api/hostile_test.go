package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/api"
	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// hostile is a phone built on the engine, not on the SDK's honest client: it
// speaks the wire protocol to a real server on loopback and forges what an
// honest phone never would (other replicas' ids, other authors, other teams'
// record ids, lifecycle jumps, future clocks). It knows every record the
// server holds (the attacker's best case), copied into its own store.
type hostile struct {
	t     testing.TB
	e     *env
	base  string
	enrol domain.Enrolment
	store *syncengine.MemStore
	rep   *syncengine.Replica // its own bound replica
}

// hostilePhone enrols person over loopback (base "": in process).
func (e *env) hostilePhone(base, person string) *hostile {
	e.t.Helper()
	code, _, err := e.db.IssueEnrolmentCode(context.Background(), person, "admin")
	must(e.t, err)
	h := &hostile{t: e.t, e: e, base: base, store: syncengine.NewMemStore()}
	body := []byte(`{"code":"` + code + `","platform":"android"}`)
	var status int
	var raw []byte
	if base == "" {
		r := e.do("POST", "/v1/enrol", jsonCT, body)
		status, raw = r.status, r.body
	} else {
		resp, err := http.Post(base+"/v1/enrol", "application/json", bytes.NewReader(body))
		must(e.t, err)
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != 201 {
		e.t.Fatalf("enrol %s: %d %s", person, status, raw)
	}
	must(e.t, json.Unmarshal(raw, &h.enrol))
	id, err := syncengine.ParseReplicaID(h.enrol.ReplicaID)
	must(e.t, err)
	h.rep = h.replica(id, 0, e.now)
	return h
}

// replica returns an engine replica writing as id (its own or forged) from
// counter on, with a clock reading now.
func (h *hostile) replica(id syncengine.ReplicaID, counter uint64, now time.Time) *syncengine.Replica {
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return now }, Rand: rand.Reader, Store: h.store, Counter: counter})
	must(h.t, err)
	return rep
}

// forget drops everything the hostile phone holds (its replica keeps its counter).
func (h *hostile) forget() {
	for _, r := range h.store.Records() {
		h.store.Drop(r.ID)
	}
}

// know copies the server's current state of records into the hostile store.
func (h *hostile) know(ids ...syncengine.RecordID) {
	for _, id := range ids {
		r, err := h.e.db.RecordState(context.Background(), string(id))
		must(h.t, err)
		if r == nil {
			h.t.Fatalf("server does not hold %s", id)
		}
		h.store.Put(r.Clone())
	}
}

// forge makes a changeset through rep as author, then lets tamper rewrite it
// past the engine's local checks (nil: leave it).
func (h *hostile) forge(rep *syncengine.Replica, author string, fn func(tx *syncengine.Txn) error, tamper func(cs *syncengine.Changeset)) *syncengine.Changeset {
	h.t.Helper()
	cs, err := rep.Edit(author, fn)
	if err != nil {
		h.t.Fatalf("forge: %v", err)
	}
	if tamper != nil {
		tamper(cs)
	}
	return cs
}

type pushReply struct {
	status  int
	results []protocol.PushResult
	err     api.ErrorBody
	raw     []byte
}

// push sends raw changesets (no pull) over loopback.
func (h *hostile) push(css ...*syncengine.Changeset) pushReply {
	h.t.Helper()
	req := protocol.Request{NoPull: true}
	for _, cs := range css {
		req.Changesets = append(req.Changesets, base64.StdEncoding.EncodeToString(syncengine.EncodeChangeset(cs)))
	}
	body, _ := json.Marshal(req)
	if h.base == "" { // in process, through the same handlers
		r := h.e.do("POST", "/v1/sync", map[string]string{"Authorization": "Bearer " + h.enrol.Credential, "Content-Type": "application/json"}, body)
		return decodePush(h.t, r.status, r.body)
	}
	hr, _ := http.NewRequest("POST", h.base+"/v1/sync", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+h.enrol.Credential)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	must(h.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return decodePush(h.t, resp.StatusCode, raw)
}

func decodePush(tb testing.TB, status int, raw []byte) pushReply {
	tb.Helper()
	out := pushReply{status: status, raw: raw}
	if status != 200 {
		_ = json.Unmarshal(raw, &out.err)
		return out
	}
	var r protocol.Response
	if err := json.Unmarshal(raw, &r); err != nil {
		tb.Fatalf("decode %s: %v", raw, err)
	}
	out.results = r.Results
	return out
}

// refused asserts the push was refused: the whole request 403 forbidden, or
// every changeset quarantined as forbidden or invalid.
func (r pushReply) refused(tb testing.TB, what string) {
	tb.Helper()
	if r.status == 403 && r.err.Code == domain.EFORBIDDEN && r.err.Message != "" {
		return
	}
	if r.status != 200 || len(r.results) == 0 {
		tb.Fatalf("%s: %d %s", what, r.status, r.raw)
	}
	for _, pr := range r.results {
		if pr.Status != protocol.StatusQuarantined || (pr.Code != domain.EFORBIDDEN && pr.Code != domain.EINVALID) || pr.Message == "" {
			tb.Fatalf("%s was not refused: %s", what, r.raw)
		}
	}
}

func (r pushReply) accepted(tb testing.TB, what string) {
	tb.Helper()
	if r.status != 200 || len(r.results) == 0 {
		tb.Fatalf("%s: %d %s", what, r.status, r.raw)
	}
	for _, pr := range r.results {
		if pr.Status != protocol.StatusAccepted {
			tb.Fatalf("%s was not accepted: %s", what, r.raw)
		}
	}
}

func setAll(tb testing.TB, tx *syncengine.Txn, id syncengine.RecordID, fields map[string]any) {
	tb.Helper()
	for k, v := range fields {
		must(tb, tx.Set(id, k, v))
	}
}

// newYoungPerson creates a young person of team through rep.
func (h *hostile) newYoungPerson(team, knownAs string) syncengine.RecordID {
	var yp syncengine.RecordID
	cs := h.forge(h.rep, h.enrol.PersonID, func(tx *syncengine.Txn) (err error) {
		if yp, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		setAll(h.t, tx, yp, map[string]any{"team_id": team, "known_as": knownAs})
		return nil
	}, nil)
	h.push(cs).accepted(h.t, "create young person")
	return yp
}

// newReferral creates a referral through rep with the given fields on top
// of a complete submitted, consent-given one.
func (h *hostile) newReferral(rep *syncengine.Replica, author string, yp syncengine.RecordID, fields map[string]any) (syncengine.RecordID, *syncengine.Changeset) {
	var ref syncengine.RecordID
	cs := h.forge(rep, author, func(tx *syncengine.Txn) (err error) {
		if ref, err = tx.Create(syncengine.TypeReferral); err != nil {
			return err
		}
		f := map[string]any{"team_id": h.enrol.TeamID, "young_person_id": string(yp), "service_id": "svc_housing", "urgency": "soon", "consent": "given", "status": "submitted"}
		for k, v := range fields {
			f[k] = v
		}
		setAll(h.t, tx, ref, f)
		return tx.InsertText(ref, "reason", 0, "Sofa surfing")
	}, nil)
	return ref, cs
}

// createEncounter is an edit creating an encounter of team, an hour ago
// (its id in *id unless id is nil).
func (e *env) createEncounter(id *syncengine.RecordID, team, area string) func(tx *syncengine.Txn) error {
	return func(tx *syncengine.Txn) error {
		x, err := tx.Create(syncengine.TypeEncounter)
		if err != nil {
			return err
		}
		if id != nil {
			*id = x
		}
		setAll(e.t, tx, x, map[string]any{"team_id": team, "area": area, "started_at": e.now.Add(-time.Hour)})
		return nil
	}
}

func (e *env) stored(id syncengine.RecordID) *syncengine.Record {
	e.t.Helper()
	r, err := e.db.RecordState(context.Background(), string(id))
	must(e.t, err)
	return r
}

func (e *env) filedUnder(id syncengine.RecordID) (team, service string) {
	e.t.Helper()
	must(e.t, e.db.SQL().QueryRow(`SELECT COALESCE(team_id, ''), COALESCE(service_id, '') FROM records WHERE id = ?`, string(id)).Scan(&team, &service))
	return team, service
}

// TestForgedReplicaIDsCannotDestroyAnotherPhonesSaves: a team-B device
// pushing changesets under a team-A phone's replica id (and under another
// person's name) is refused before anything is looked up or stored, so the
// victim's next save is accepted as usual.
func TestForgedReplicaIDsCannotDestroyAnotherPhonesSaves(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	victim := e.hostilePhone(base, "w_a") // an honest phone, on the wire
	attacker := e.hostilePhone(base, "w_b")
	victimID, err := syncengine.ParseReplicaID(victim.enrol.ReplicaID)
	must(t, err)

	forged := attacker.replica(victimID, 0, e.now)
	var css []*syncengine.Changeset
	for i := 0; i < 200; i++ {
		css = append(css, attacker.forge(forged, "w_b", e.createEncounter(nil, "team_b", "park"), nil))
	}
	attacker.push(css...).refused(t, "changesets under another device's replica id")
	if n := e.count("quarantine"); n != 0 {
		t.Fatalf("forged changesets were stored in quarantine (%d rows)", n)
	}
	audit, err := e.db.Audit(context.Background(), domain.AuditFilter{DeviceID: attacker.enrol.DeviceID, Action: domain.ActionRefused})
	must(t, err)
	if len(audit) != 1 {
		t.Fatalf("refused forged push audited %d times, want 1", len(audit))
	}

	// Its own replica but another person as author.
	cs := attacker.forge(attacker.rep, "w_a", e.createEncounter(nil, "team_b", "park"), nil)
	attacker.push(cs).refused(t, "changeset with a forged author")

	// The victim's saves (starting at counter 1, as the forgeries did) are untouched.
	yp := victim.newYoungPerson("team_a", "Jo")
	if e.stored(yp) == nil {
		t.Fatal("victim's save was lost")
	}
	if n := e.count("changesets"); n != 1 {
		t.Fatalf("changesets = %d, want only the victim's", n)
	}
}

// TestWorkersCannotCreateReferralsOrFollowUpsForAnotherTeam: a referral or
// follow-up belongs to its young person's team, whatever team_id it carries.
func TestWorkersCannotCreateReferralsOrFollowUpsForAnotherTeam(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a, b := e.hostilePhone(base, "w_a"), e.hostilePhone(base, "w_b")
	ypB := b.newYoungPerson("team_b", "Riverside kid")
	a.know(ypB)

	ref, cs := a.newReferral(a.rep, "w_a", ypB, nil)
	a.push(cs).refused(t, "referral for another team's young person")
	if e.stored(ref) != nil {
		t.Fatal("cross-team referral was stored")
	}
	fu := a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error {
		id, err := tx.Create(syncengine.TypeFollowUp)
		if err != nil {
			return err
		}
		setAll(t, tx, id, map[string]any{"team_id": "team_a", "young_person_id": string(ypB), "assignee": "w_a", "due_at": e.now.Add(24 * time.Hour), "status": "open"})
		return nil
	}, nil)
	a.push(fu).refused(t, "follow-up for another team's young person")

	// The housing service received nothing.
	h := e.enrolPhone("prac_h")
	h.syncAll()
	if len(h.store.Records()) != 0 {
		t.Fatalf("housing received %d records", len(h.store.Records()))
	}
	// Team A's own young person: accepted, filed under team A.
	ypA := a.newYoungPerson("team_a", "Northgate kid")
	ref, cs = a.newReferral(a.rep, "w_a", ypA, nil)
	a.push(cs).accepted(t, "referral for own team's young person")
	if team, svc := e.filedUnder(ref); team != "team_a" || svc != "svc_housing" {
		t.Fatalf("filed under %q/%q", team, svc)
	}
	// A team_id that disagrees with the young person's team is refused too.
	_, cs = a.newReferral(a.rep, "w_a", ypA, map[string]any{"team_id": "team_b"})
	a.push(cs).refused(t, "referral whose team_id is not its young person's team")
}

// TestTeamIDWritesCannotMoveRecords: a worker writing team_id on a young
// person (under a safeguarding hold, or not) or an encounter, to another or
// a non-existent team, is refused; the record stays filed where it was.
func TestTeamIDWritesCannotMoveRecords(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a := e.hostilePhone(base, "w_a")
	sup := e.hostilePhone(base, "sup_a")
	held := a.newYoungPerson("team_a", "Held")
	a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(held, "safeguarding_hold", true) }, nil)).accepted(t, "hold")
	var enc syncengine.RecordID
	a.push(a.forge(a.rep, "w_a", e.createEncounter(&enc, "team_a", "park"), nil)).accepted(t, "encounter")
	sup.know(held, enc)
	for _, tc := range []struct {
		name string
		who  *hostile
		id   syncengine.RecordID
		to   string
	}{
		{"worker moves held profile to team B", a, held, "team_b"},
		{"worker moves profile to no team", a, held, "team_nowhere"},
		{"worker moves encounter", a, enc, "team_b"},
		{"supervisor moves profile by a field write", sup, held, "team_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.who.know(tc.id) // forget its own refused writes, as a phone told "quarantined" does
			tc.who.push(tc.who.forge(tc.who.rep, tc.who.enrol.PersonID, func(tx *syncengine.Txn) error { return tx.Set(tc.id, "team_id", tc.to) }, nil)).
				refused(t, tc.name)
			if team, _ := e.filedUnder(tc.id); team != "team_a" {
				t.Fatalf("record now filed under %q", team)
			}
			if got := e.stored(tc.id).String("team_id"); got != "team_a" {
				t.Fatalf("team_id field now %q", got)
			}
		})
	}
}

// lifecycleSetup: team A's young person with a referral submitted to
// housing (consent given), known to the hostile phones a and housing.
func lifecycleSetup(t *testing.T) (e *env, a, h *hostile, ref syncengine.RecordID) {
	e = newEnv(t)
	base := e.serve(t)
	a, h = e.hostilePhone(base, "w_a"), e.hostilePhone(base, "prac_h")
	yp := a.newYoungPerson("team_a", "Jo")
	ref, cs := a.newReferral(a.rep, "w_a", yp, nil)
	a.push(cs).accepted(t, "submitted referral")
	h.know(ref)
	return e, a, h, ref
}

// statusValue rewrites every status write in cs to to, with refs (nil: none).
func statusValue(to string, refs []syncengine.ID) func(cs *syncengine.Changeset) {
	return func(cs *syncengine.Changeset) {
		for i := range cs.Ops {
			if cs.Ops[i].Field == "status" {
				cs.Ops[i].Value = json.RawMessage(`"` + to + `"`)
				cs.Ops[i].Refs = refs
			}
		}
	}
}

// TestReferralLifecycleCannotBeBypassed: lifecycle moves are checked by role
// against the server's current state; references that match nothing, an
// empty reference list and a clock in 2100 decide nothing.
func TestReferralLifecycleCannotBeBypassed(t *testing.T) {
	bogus := []syncengine.ID{{Replica: syncengine.ReplicaID{9, 9, 9}, Seq: 424242}}
	for _, tc := range []struct {
		name   string
		prac   bool // the housing practitioner writes, else the worker
		first  string
		status string
		refs   []syncengine.ID
		clock  time.Time
	}{
		{name: "worker accepts own referral", status: "accepted"},
		{name: "worker declines own referral", status: "declined"},
		{name: "worker resets to draft with no refs", status: "draft", refs: []syncengine.ID{}},
		{name: "worker accepts with refs matching nothing", status: "accepted", refs: bogus},
		{name: "practitioner withdraws", prac: true, status: "withdrawn"},
		{name: "practitioner sets accepted back to draft, no refs", prac: true, first: "accepted", status: "draft", refs: []syncengine.ID{}},
		{name: "practitioner sets accepted back to submitted, refs matching nothing", prac: true, first: "accepted", status: "submitted", refs: bogus},
		{name: "practitioner declines with a 2100 clock, refs matching nothing", prac: true, first: "accepted", status: "declined", refs: bogus, clock: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, a, h, ref := lifecycleSetup(t)
			if tc.first != "" {
				h.push(h.forge(h.rep, "prac_h", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", tc.first) }, nil)).accepted(t, "practitioner "+tc.first)
				a.know(ref)
			}
			who, person := a, "w_a"
			if tc.prac {
				who, person = h, "prac_h"
			}
			before := syncengine.EncodeRecord(e.stored(ref))
			rep := who.rep
			if !tc.clock.IsZero() {
				rep = who.replica(rep.ID(), rep.Counter(), tc.clock)
			}
			// The status write is the first op (rewritten from an outcome
			// write, past the engine's local checks); a decline reason
			// follows so that a decline is not refused for lacking one.
			cs := who.forge(rep, person, func(tx *syncengine.Txn) error {
				must(t, tx.Set(ref, "outcome", "x"))
				return tx.Set(ref, "decline_reason", "no capacity")
			}, nil)
			cs.Ops[0].Field, cs.Ops[0].Value = "status", json.RawMessage(`"`+tc.status+`"`)
			if tc.refs != nil {
				cs.Ops[0].Refs = tc.refs
			} else {
				cs.Ops[0].Refs = e.stored(ref).Fields["status"].ValueIDs()
			}
			who.push(cs).refused(t, tc.name)
			if after := syncengine.EncodeRecord(e.stored(ref)); !bytes.Equal(before, after) {
				t.Fatalf("referral changed: status now %q", e.stored(ref).String("status"))
			}
		})
	}
	t.Run("practitioner accepts, then closes", func(t *testing.T) {
		e, _, h, ref := lifecycleSetup(t)
		h.push(h.forge(h.rep, "prac_h", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", "accepted") }, nil)).accepted(t, "accept")
		h.push(h.forge(h.rep, "prac_h", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", "closed") }, nil)).accepted(t, "close")
		if got := e.stored(ref).String("status"); got != "closed" {
			t.Fatalf("status %q", got)
		}
	})
}

// TestFutureClockIsRefused: a changeset stamped more than MaxSkew ahead of
// the server's clock is refused, so a phone cannot win a register by its clock.
func TestFutureClockIsRefused(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a := e.hostilePhone(base, "w_a")
	yp := a.newYoungPerson("team_a", "Jo")
	rep := a.replica(a.rep.ID(), a.rep.Counter(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	a.push(a.forge(rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(yp, "known_as", "Future") }, nil)).refused(t, "changeset from 2100")
	if got := e.stored(yp).String("known_as"); got != "Jo" {
		t.Fatalf("known_as = %q", got)
	}
	// A minute ahead is an ordinary phone clock: accepted.
	a.know(yp)
	rep = a.replica(a.rep.ID(), rep.Counter(), e.now.Add(time.Minute))
	a.push(a.forge(rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(yp, "known_as", "Jay") }, nil)).accepted(t, "a minute ahead")
}

// TestConsentIsEnforced: a referral reaches its service only with consent
// given, or shared without consent with a justification and a supervisor's
// decision; re-addressing a submitted referral needs a new decision.
func TestConsentIsEnforced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]any
		ok     bool
	}{
		{"consent refused", map[string]any{"consent": "refused"}, false},
		{"consent not asked", map[string]any{"consent": "not_asked"}, false},
		{"shared without consent, blank justification, decided by the supervisor", map[string]any{"consent": "shared_without_consent", "consent_justification": "-", "consent_decided_by": "sup_a"}, false},
		{"shared without consent, justified, decided by the worker", map[string]any{"consent": "shared_without_consent", "consent_justification": "risk", "consent_decided_by": "w_a"}, false},
		{"shared without consent, justified, decided by nobody known", map[string]any{"consent": "shared_without_consent", "consent_justification": "risk", "consent_decided_by": "sup_zz"}, false},
		// The decider is who wrote the decision, as the server authenticated
		// them: a worker naming their supervisor decides nothing.
		{"shared without consent, justified, the worker names the supervisor as decider", map[string]any{"consent": "shared_without_consent", "consent_justification": "risk", "consent_decided_by": "sup_a"}, false},
		{"consent given", map[string]any{"consent": "given"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			base := e.serve(t)
			a := e.hostilePhone(base, "w_a")
			yp := a.newYoungPerson("team_a", "Jo")
			ref, cs := a.newReferral(a.rep, "w_a", yp, tc.fields)
			for i := range cs.Ops {
				if cs.Ops[i].Field == "consent_justification" && string(cs.Ops[i].Value) == `"-"` {
					cs.Ops[i].Value = json.RawMessage(`""`) // past the phone's own check
				}
			}
			if cs2 := a.push(cs); tc.ok {
				cs2.accepted(t, tc.name)
			} else {
				cs2.refused(t, tc.name)
			}
			h := e.enrolPhone("prac_h")
			h.syncAll()
			if h.has(ref) != tc.ok {
				t.Fatalf("housing holds the referral: %v, want %v", h.has(ref), tc.ok)
			}
			var outbox int
			_ = e.db.SQL().QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'push_outbox'`).Scan(&outbox)
			if outbox > 0 && !tc.ok {
				var n int
				must(t, e.db.SQL().QueryRow(`SELECT COUNT(*) FROM push_outbox`).Scan(&n))
				if n != 0 {
					t.Fatalf("%d handoff pushes queued", n)
				}
			}
		})
	}
	t.Run("shared without consent on the supervisor's own recorded decision", func(t *testing.T) {
		e := newEnv(t)
		base := e.serve(t)
		a, sup := e.hostilePhone(base, "w_a"), e.hostilePhone(base, "sup_a")
		yp := a.newYoungPerson("team_a", "Jo")
		ref, cs := a.newReferral(a.rep, "w_a", yp, map[string]any{"status": "draft", "consent": "refused"})
		a.push(cs).accepted(t, "draft referral")
		sup.know(ref)
		sup.push(sup.forge(sup.rep, "sup_a", func(tx *syncengine.Txn) error {
			setAll(t, tx, ref, map[string]any{"consent": "shared_without_consent", "consent_justification": "risk of harm", "consent_decided_by": "sup_a"})
			return nil
		}, nil)).accepted(t, "the supervisor's decision to share without consent")
		a.know(ref)
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(ref, "status", "submitted") }, nil)).accepted(t, "submitted on the supervisor's decision")
		h := e.enrolPhone("prac_h")
		h.syncAll()
		if !h.has(ref) {
			t.Fatal("housing does not hold the referral shared on the supervisor's decision")
		}
	})
	t.Run("sharing without consent decided by the worker, after submission", func(t *testing.T) {
		e, a, _, ref := lifecycleSetup(t)
		a.know(ref)
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error {
			setAll(t, tx, ref, map[string]any{"consent": "shared_without_consent", "consent_justification": "I decided", "consent_decided_by": "w_a"})
			return nil
		}, nil)).refused(t, "a worker's own decision to share without consent")
		ds, err := e.db.SharingDecisions(context.Background(), string(ref))
		must(t, err)
		for _, d := range ds {
			if d.Decision == "shared_without_consent" {
				t.Fatalf("recorded %+v", d)
			}
		}
	})
	t.Run("re-addressing a submitted referral", func(t *testing.T) {
		e, a, _, ref := lifecycleSetup(t)
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(ref, "service_id", "svc_camhs") }, nil)).
			refused(t, "re-address without a new consent decision")
		if _, svc := e.filedUnder(ref); svc != "svc_housing" {
			t.Fatalf("filed under service %q", svc)
		}
		a.know(ref)
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error {
			must(t, tx.Set(ref, "consent", "given"))
			return tx.Set(ref, "service_id", "svc_camhs")
		}, nil)).accepted(t, "re-address with a new consent decision")
		if _, svc := e.filedUnder(ref); svc != "svc_camhs" {
			t.Fatalf("filed under service %q", svc)
		}
	})
}

// TestWithdrawingConsentRemovesServiceAccess: the service's next pull drops
// the referral, and the withdrawal is a recorded sharing decision.
func TestWithdrawingConsentRemovesServiceAccess(t *testing.T) {
	e, a, _, ref := lifecycleSetup(t)
	h := e.enrolPhone("prac_h")
	h.syncAll()
	if !h.has(ref) {
		t.Fatal("housing did not receive the submitted referral")
	}
	a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(ref, "consent", "refused") }, nil)).accepted(t, "withdraw consent")
	h.syncAll()
	if h.has(ref) {
		t.Fatal("housing still holds the referral after consent was withdrawn")
	}
	if _, svc := e.filedUnder(ref); svc != "" {
		t.Fatalf("still filed under service %q", svc)
	}
	ds, err := e.db.SharingDecisions(context.Background(), string(ref))
	must(t, err)
	if len(ds) == 0 || ds[len(ds)-1].Decision != "refused" || ds[len(ds)-1].DecidedBy != "w_a" {
		t.Fatalf("sharing decisions %+v", ds)
	}
}

// TestWorkersCannotCreateUnknownTypesOrServices.
func TestWorkersCannotCreateUnknownTypesOrServices(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a := e.hostilePhone(base, "w_a")
	for _, typ := range []string{"pet", syncengine.TypeService} {
		t.Run(typ, func(t *testing.T) {
			var id syncengine.RecordID
			// Created as a service (the engine refuses unknown types
			// locally), then retyped on the wire.
			cs := a.forge(a.rep, "w_a", func(tx *syncengine.Txn) (err error) {
				if id, err = tx.Create(syncengine.TypeService); err != nil {
					return err
				}
				setAll(t, tx, id, map[string]any{"team_id": "team_a", "name": "Fake housing", "kind": "housing"})
				return nil
			}, func(cs *syncengine.Changeset) { cs.Ops[0].Type = typ })
			a.push(cs).refused(t, "create "+typ)
			if e.stored(id) != nil {
				t.Fatalf("%s record stored", typ)
			}
		})
	}
}

// TestFollowUpAssigneesMustBeInTheOwningTeam.
func TestFollowUpAssigneesMustBeInTheOwningTeam(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a := e.hostilePhone(base, "w_a")
	yp := a.newYoungPerson("team_a", "Jo")
	for _, tc := range []struct {
		assignee string
		ok       bool
	}{{"w_b", false}, {"prac_h", false}, {"nobody_known", false}, {"w_a2", true}, {"sup_a", true}} {
		t.Run(tc.assignee, func(t *testing.T) {
			r := a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error {
				id, err := tx.Create(syncengine.TypeFollowUp)
				if err != nil {
					return err
				}
				setAll(t, tx, id, map[string]any{"team_id": "team_a", "young_person_id": string(yp), "assignee": tc.assignee, "due_at": e.now.Add(24 * time.Hour), "status": "open"})
				return nil
			}, nil))
			if tc.ok {
				r.accepted(t, "assignee "+tc.assignee)
			} else {
				r.refused(t, "assignee "+tc.assignee)
			}
		})
	}
}

// TestOnlySupervisorsSignOffOrReopen: a worker can neither sign an encounter
// off nor reopen one a supervisor signed off.
func TestOnlySupervisorsSignOffOrReopen(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a, sup := e.hostilePhone(base, "w_a"), e.hostilePhone(base, "sup_a")
	var enc syncengine.RecordID
	a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) (err error) {
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		setAll(t, tx, enc, map[string]any{"team_id": "team_a", "area": "park", "started_at": e.now.Add(-time.Hour), "review_status": "awaiting_review"})
		return nil
	}, nil)).accepted(t, "encounter")
	a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(enc, "review_status", "signed_off") }, nil)).refused(t, "a worker signing off")
	a.know(enc)
	sup.know(enc)
	sup.push(sup.forge(sup.rep, "sup_a", func(tx *syncengine.Txn) error {
		setAll(t, tx, enc, map[string]any{"review_status": "signed_off", "signed_off_by": "sup_a"})
		return nil
	}, nil)).accepted(t, "supervisor signs off")
	a.know(enc)
	a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Set(enc, "review_status", "awaiting_review") }, nil)).refused(t, "a worker reopening")
	if got := e.stored(enc).String("review_status"); got != "signed_off" {
		t.Fatalf("review_status %q", got)
	}
}

// TestWorkersPresentMustBeTheTeamsPeople: an encounter's "workers present"
// names the writer or workers and supervisors of the encounter's team. A
// forged phone naming another team's worker, a practitioner or someone the
// server does not know is refused, on a new encounter and on an edit.
func TestWorkersPresentMustBeTheTeamsPeople(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	// A colleague who moved to team B after a phone, offline, recorded them.
	moved := domain.Person{ID: "w_moved", Name: "Moved", Role: "worker", TeamID: "team_a"}
	must(t, e.db.UpsertPerson(context.Background(), moved))
	moved.TeamID = "team_b"
	must(t, e.db.UpsertPerson(context.Background(), moved))
	a := e.hostilePhone(base, "w_a")
	encounter := func(workers ...string) func(tx *syncengine.Txn) error {
		return func(tx *syncengine.Txn) error {
			id, err := tx.Create(syncengine.TypeEncounter)
			if err != nil {
				return err
			}
			setAll(t, tx, id, map[string]any{"team_id": "team_a", "area": "Park", "started_at": e.now.Add(-time.Hour)})
			for _, w := range workers {
				if err := tx.Add(id, "workers", w); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for _, tc := range []struct {
		workers []string
		ok      bool
	}{
		{[]string{"w_a"}, true},
		{[]string{"w_a", "w_a2", "sup_a"}, true},
		{[]string{"w_a", "w_b"}, false},
		{[]string{"w_a", "w_moved"}, true},
		{[]string{"prac_h"}, false},
		{[]string{"admin"}, false},
		{[]string{"nobody_known"}, false},
	} {
		t.Run(strings.Join(tc.workers, "+"), func(t *testing.T) {
			r := a.push(a.forge(a.rep, "w_a", encounter(tc.workers...), nil))
			if tc.ok {
				r.accepted(t, "workers "+strings.Join(tc.workers, ", "))
			} else {
				r.refused(t, "workers "+strings.Join(tc.workers, ", "))
			}
		})
	}
	t.Run("added on an edit", func(t *testing.T) {
		var id syncengine.RecordID
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) (err error) {
			if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
				return err
			}
			setAll(t, tx, id, map[string]any{"team_id": "team_a", "area": "Park", "started_at": e.now.Add(-time.Hour)})
			return tx.Add(id, "workers", "w_a")
		}, nil)).accepted(t, "an encounter")
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Add(id, "workers", "w_a2") }, nil)).accepted(t, "adding a colleague")
		a.push(a.forge(a.rep, "w_a", func(tx *syncengine.Txn) error { return tx.Add(id, "workers", "w_b") }, nil)).refused(t, "adding team B's worker")
	})
}

// TestRosterIsOnlyTheDevicesTeam: whatever a forged sync request adds (team
// ids, another team's roster version, a person id), the roster it gets back
// is its own team's: the server reads the teams from the device's person.
func TestRosterIsOnlyTheDevicesTeam(t *testing.T) {
	e := newEnv(t)
	base := e.serve(t)
	a := e.hostilePhone(base, "w_a")
	b := e.hostilePhone(base, "w_b")
	sync := func(h *hostile, body string) protocol.Response {
		t.Helper()
		hr, _ := http.NewRequest("POST", base+"/v1/sync", strings.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+h.enrol.Credential)
		hr.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(hr)
		must(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("sync: %d %s", resp.StatusCode, raw)
		}
		var r protocol.Response
		must(t, json.Unmarshal(raw, &r))
		return r
	}
	bv := sync(b, `{"cursor":""}`).Roster
	if bv == nil || len(bv.Workers) != 1 || bv.Workers[0].ID != "w_b" {
		t.Fatalf("team B's roster: %+v", bv)
	}
	for _, body := range []string{
		`{"cursor":""}`,
		`{"cursor":"","roster_version":"` + bv.Version + `"}`,
		`{"cursor":"","team_id":"team_b","teams":["team_b"],"person_id":"w_b","scope":{"teams":["team_b"]}}`,
	} {
		r := sync(a, body).Roster
		if r == nil {
			t.Fatalf("%s: no roster", body)
		}
		var got []string
		for _, w := range r.Workers {
			got = append(got, w.ID)
		}
		if strings.Join(got, ",") != "sup_a,w_a,w_a2" {
			t.Errorf("%s: roster %v, want team A's sup_a, w_a, w_a2", body, got)
		}
	}
}
