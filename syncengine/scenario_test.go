package syncengine

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// deliverAll delivers every changeset of the universe to every replica, in order.
func (s *sim) deliverAll() {
	for i := range s.replicas {
		for _, cs := range s.universe {
			s.deliver(i, cs)
		}
	}
}

func mustRecord(t *testing.T, r *Replica, id RecordID) *Record {
	t.Helper()
	rec, err := r.Record(id)
	if err != nil || rec == nil {
		t.Fatalf("record %s: %v %v", id, rec, err)
	}
	return rec
}

func TestTwoWorkersEditTheSameNoteOffline(t *testing.T) {
	s := newSim(t, 1, 3)
	enc := s.encounter(0, "w-ana", "Riverside park", "Met J and K by the skate ramp.")
	s.deliverAll()
	// Both go offline and add to the end of the same note.
	s.edit(0, "w-ana", func(tx *Txn) error {
		return tx.InsertText(enc, "note", 30, " J asked about college courses.")
	})
	s.edit(1, "w-ben", func(tx *Txn) error {
		return tx.InsertText(enc, "note", 30, " K said things are hard at home.")
	})
	s.deliverAll()
	s.assertConverged()
	note := mustRecord(t, s.replicas[2], enc).String("note")
	for _, want := range []string{"Met J and K by the skate ramp.", " J asked about college courses.", " K said things are hard at home."} {
		if !strings.Contains(note, want) {
			t.Errorf("note lost %q: %q", want, note)
		}
	}
	view := mustRecord(t, s.replicas[2], enc).View(nil)
	authors := map[string]bool{}
	for _, run := range view.Authors["note"] {
		authors[run.Author] = true
	}
	if !authors["w-ana"] || !authors["w-ben"] {
		t.Errorf("attribution lost: %+v", view.Authors["note"])
	}
}

func TestArchiveWhileAnotherWorkerEdits(t *testing.T) {
	s := newSim(t, 2, 3)
	var ref RecordID
	s.edit(0, "w-ana", func(tx *Txn) (err error) { ref, err = newReferral(tx); return })
	s.deliverAll()
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.Delete(ref) })
	s.edit(1, "w-ben", func(tx *Txn) error { return tx.InsertText(ref, "reason", 0, "Now staying with a friend. ") })
	s.deliverAll()
	s.assertConverged()
	r := mustRecord(t, s.replicas[2], ref)
	if !r.Deleted() {
		t.Fatal("archive lost")
	}
	if !strings.Contains(r.String("reason"), "Now staying with a friend.") {
		t.Fatal("the edit made meanwhile was lost")
	}
	// A supervisor undoes the archive: the edit is there.
	s.edit(2, "s-cat", func(tx *Txn) error { return tx.Undelete(ref) })
	s.deliverAll()
	s.assertConverged()
	if r := mustRecord(t, s.replicas[0], ref); r.Deleted() || !strings.Contains(r.String("reason"), "Now staying") {
		t.Fatal("undo did not restore the record with its edit")
	}
}

func TestConsentChangesConcurrentlyWithSubmit(t *testing.T) {
	s := newSim(t, 3, 3)
	var ref RecordID
	s.edit(0, "w-ana", func(tx *Txn) (err error) { ref, err = newReferral(tx); return })
	s.deliverAll()
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.Set(ref, "status", "submitted") })
	s.edit(1, "w-ben", func(tx *Txn) error { return tx.Set(ref, "consent", "refused") })
	s.edit(2, "s-cat", func(tx *Txn) error { return tx.Set(ref, "consent", "not_asked") })
	s.deliverAll()
	s.assertConverged()
	r := mustRecord(t, s.replicas[0], ref)
	if got := r.String("status"); got != "submitted" {
		t.Errorf("status = %q", got)
	}
	cs := r.Conflicts()
	if len(cs) != 1 || cs[0].Field != "consent" || len(cs[0].Values) != 2 {
		t.Fatalf("want one visible consent conflict with both values, got %+v", cs)
	}
	// Anyone resolving it writes a value that supersedes both.
	s.edit(0, "s-cat", func(tx *Txn) error { return tx.Set(ref, "consent", "refused") })
	s.deliverAll()
	s.assertConverged()
	if cs := mustRecord(t, s.replicas[1], ref).Conflicts(); len(cs) != 0 {
		t.Fatalf("conflict not resolved: %+v", cs)
	}
}

func TestPhoneWithClockThreeDaysFast(t *testing.T) {
	s := newSim(t, 4, 3) // replica 1's clock is 72h fast
	enc := s.encounter(1, "w-ben", "Market square", "")
	s.deliverAll()
	// A later edit on a correct clock, made after seeing the fast phone's value, wins.
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.Set(enc, "area", "Station retail park") })
	s.deliverAll()
	s.assertConverged()
	r := mustRecord(t, s.replicas[1], enc)
	if got := r.String("area"); got != "Station retail park" {
		t.Fatalf("the fast clock made a later edit vanish: area = %q", got)
	}
	if len(r.Conflicts()) != 0 {
		t.Fatalf("a causal overwrite is not a conflict: %+v", r.Conflicts())
	}
	// Writes made without seeing each other are both kept, whatever the clocks say.
	s.edit(1, "w-ben", func(tx *Txn) error { return tx.Set(enc, "area", "Riverside park") })
	s.edit(0, "w-ana", func(tx *Txn) error { return tx.Set(enc, "area", "Northgate estate") })
	s.deliverAll()
	s.assertConverged()
	if c := mustRecord(t, s.replicas[2], enc).Conflicts(); len(c) != 1 || len(c[0].Values) != 2 {
		t.Fatalf("want both concurrent values kept, got %+v", c)
	}
	// And the fast phone did not drag the others' clocks days ahead.
	if got := s.replicas[0].Clock().Now().Time(); got.Sub(s.now) > MaxSkew+time.Minute {
		t.Fatalf("clock dragged %v ahead", got.Sub(s.now))
	}
}

func TestErasureRacingAnEditOnAnOfflinePhone(t *testing.T) {
	s := newSim(t, 5, 3) // replica 0 plays the server
	enc := s.encounter(1, "w-ben", "Riverside park", "Original words.")
	s.deliverAll()
	// Phone 1 goes offline and edits; meanwhile the server erases the record.
	edit := s.edit(1, "w-ben", func(tx *Txn) error { return tx.InsertText(enc, "note", 0, "SECRET offline words. ") })
	erase := s.edit(0, "s-admin", func(tx *Txn) error { return tx.Erase(enc, "subject erasure request") })
	// The server gets the edit after the erasure: dropped.
	s.deliver(0, edit)
	s.deliver(2, erase)
	s.deliver(2, edit)
	s.deliver(1, erase)
	s.assertConverged()
	r := mustRecord(t, s.replicas[1], enc)
	if r.Erased == nil || r.Erased.By != "s-admin" || len(r.Fields) != 0 {
		t.Fatalf("not erased: %+v", r)
	}
	// History is purged too: no stored changeset still carries the words.
	for i, st := range s.stores {
		st.RedactHistory(func(id RecordID) bool { return id == enc })
		for _, cs := range st.Log() {
			if strings.Contains(string(EncodeChangeset(cs)), "SECRET") || strings.Contains(dumpOps(cs), "SECRET") || strings.Contains(dumpOps(cs), "Original") {
				t.Fatalf("replica %d history still holds erased text", i)
			}
		}
	}
	// A phone that only ever sees the redacted history converges too.
	fresh := s.addReplica(NewMemStore(), 0)
	for _, cs := range s.stores[0].Log() {
		if _, err := fresh.Apply(cs); err != nil {
			t.Fatal(err)
		}
	}
	s.assertConverged()
	// And the erased record cannot be edited any more.
	if _, err := s.replicas[2].Edit("w-ana", func(tx *Txn) error { return tx.Set(enc, "area", "x") }); ErrorCode(err) != EERASED {
		t.Fatalf("edit of erased record: %v", err)
	}
}

func dumpOps(cs *Changeset) string {
	b, _ := json.Marshal(cs.Ops)
	return string(b)
}

func TestReferralLifecycle(t *testing.T) {
	s := newSim(t, 6, 3)
	var ref RecordID
	s.edit(0, "w-ana", func(tx *Txn) (err error) { ref, err = newReferral(tx); return })
	tests := []struct {
		name, to string
		wantErr  bool
	}{
		{"skip from draft to accepted", "accepted", true},
		{"submit", "submitted", false},
		{"reverse to draft", "draft", true},
		{"unknown status", "lost", true},
	}
	for _, tc := range tests {
		_, err := s.replicas[0].Edit("w-ana", func(tx *Txn) error { return tx.Set(ref, "status", tc.to) })
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("%s: code %q, want %q", tc.name, ErrorCode(err), EINVALID)
		}
	}
	s.universe = nil
	for _, cs := range s.stores[0].Log() {
		s.universe = append(s.universe, cs)
	}
	s.deliverAll()
	// The service accepts while the worker's supervisor declines: a visible conflict.
	s.edit(1, "p-nurse", func(tx *Txn) error { return tx.Set(ref, "status", "accepted") })
	s.edit(2, "s-cat", func(tx *Txn) error {
		if err := tx.Set(ref, "decline_reason", "Not our area"); err != nil {
			return err
		}
		return tx.Set(ref, "status", "declined")
	})
	s.deliverAll()
	s.assertConverged()
	cs := mustRecord(t, s.replicas[0], ref).Conflicts()
	if len(cs) != 1 || cs[0].Field != "status" {
		t.Fatalf("want a status conflict, got %+v", cs)
	}
}

func TestRequiredOnSubmitAndNoCoordinates(t *testing.T) {
	s := newSim(t, 7, 3)
	_, err := s.replicas[0].Edit("w-ana", func(tx *Txn) error {
		id, err := tx.Create(TypeReferral)
		if err != nil {
			return err
		}
		tx.Set(id, "team_id", "team-a")
		tx.Set(id, "young_person_id", "yp-1")
		return tx.Set(id, "status", "submitted") // no reason, service, urgency, consent
	})
	var ve *ValidationError
	if ErrorCode(err) != EINVALID || !asValidation(err, &ve) || len(ve.Fields) < 4 {
		t.Fatalf("submit without required fields: %v", err)
	}
	_, err = s.replicas[0].Edit("w-ana", func(tx *Txn) error {
		if err := newEncounter(tx, s.now); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := s.stores[0].Records()[0].ID
	_, err = s.replicas[0].Edit("w-ana", func(tx *Txn) error { return tx.Set(enc, "area", "51.5072, -0.1276") })
	if ErrorCode(err) != EINVALID {
		t.Fatalf("GPS coordinates accepted as an area: %v", err)
	}
}

func TestUnknownFieldsArePassedOn(t *testing.T) {
	s := newSim(t, 8, 3)
	var enc RecordID
	s.edit(0, "w-ana", func(tx *Txn) error {
		if err := newEncounter(tx, s.now); err != nil {
			return err
		}
		enc = tx.cs.Ops[0].Record
		return tx.Set(enc, "weather_v2", map[string]any{"rain": true})
	})
	s.deliverAll()
	got, _ := json.Marshal(mustRecord(t, s.replicas[2], enc).View(nil).Values["weather_v2"])
	if string(got) != `{"rain":true}` {
		t.Fatalf("unknown field dropped: %s", got)
	}
}

func TestDuplicateDeliveryIsIdempotent(t *testing.T) {
	s := newSim(t, 9, 3)
	cs := s.edit(0, "w-ana", func(tx *Txn) error { return newEncounter(tx, s.now) })
	for i := 0; i < 3; i++ {
		st, err := s.replicas[1].Apply(cs)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]ApplyStatus{true: Applied, false: Duplicate}[i == 0]; st != want {
			t.Fatalf("delivery %d: %s, want %s", i, st, want)
		}
	}
	if n := len(s.stores[1].Log()); n != 1 {
		t.Fatalf("stored %d times", n)
	}
}

func asValidation(err error, target **ValidationError) bool {
	for err != nil {
		if v, ok := err.(*ValidationError); ok {
			*target = v
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestScopedDelivery: a save touching a team-A record and a team-B record
// reaches a team-A phone without a trace of the team-B record, and the
// team-B part arrives later, by snapshot or whole, without loss or doubling.
func TestScopedDelivery(t *testing.T) {
	s := newSim(t, 10, 3)
	var a, b RecordID
	cs := s.edit(0, "s-cat", func(tx *Txn) error {
		var err error
		if a, err = tx.Create(TypeFollowUp); err != nil {
			return err
		}
		if b, err = tx.Create(TypeFollowUp); err != nil {
			return err
		}
		due := s.now.Add(48 * time.Hour)
		for id, team := range map[RecordID]string{a: "team-a", b: "team-b"} {
			for _, kv := range []struct {
				f string
				v any
			}{{"team_id", team}, {"assignee", "w-1"}, {"due_at", due}, {"status", "open"}} {
				if err := tx.Set(id, kv.f, kv.v); err != nil {
					return err
				}
			}
			if err := tx.InsertText(id, "note", 0, "Private to "+team); err != nil {
				return err
			}
		}
		return nil
	})
	onlyA, ok := RestrictChangeset(cs, func(id RecordID) bool { return id == a })
	if !ok {
		t.Fatal("nothing kept")
	}
	wire := EncodeChangeset(onlyA)
	if bytes.Contains(wire, []byte(b)) || bytes.Contains(wire, []byte("team-b")) {
		t.Fatal("restricted changeset still names the out-of-scope record")
	}
	s.deliver(1, onlyA)
	if r, _ := s.replicas[1].Record(b); r != nil {
		t.Fatal("out-of-scope record reached the phone")
	}
	if got := mustRecord(t, s.replicas[1], a).String("note"); got != "Private to team-a" {
		t.Fatalf("in-scope record: %q", got)
	}
	// The team-B record comes into scope: first by snapshot on replica 1, whole on replica 2.
	rb, _ := s.replicas[0].Record(b)
	s.stores[1].Put(rb.Clone())
	s.deliver(2, onlyA)
	s.deliver(2, cs) // applies to b only; a already has it
	s.deliver(1, cs) // a duplicate everywhere now
	s.assertConverged()
	if _, ok := RestrictChangeset(cs, func(RecordID) bool { return false }); ok {
		t.Fatal("an empty restriction must report false")
	}
}

// TestHeldChangesetThatCannotApplyIsKept: a changeset held for its
// dependencies that then turns out not to apply (a hostile or broken writer
// set a text field as a register) is kept with its reason, not dropped.
func TestHeldChangesetThatCannotApplyIsKept(t *testing.T) {
	s := newSim(t, 11, 3)
	create := s.edit(0, "w-ana", func(tx *Txn) error { return newEncounter(tx, s.now) })
	id := create.Ops[0].Record
	edit := s.edit(0, "w-ana", func(tx *Txn) error { return tx.Set(id, "area", "Riverside park") })
	bad := *edit
	bad.Ops = []Op{{Kind: OpSet, Record: id, Field: "note", Value: []byte(`"overwrite"`)}}
	if st, err := s.replicas[1].Apply(&bad); err != nil || st != Pending {
		t.Fatalf("held: %v %v", st, err)
	}
	if _, err := s.replicas[1].Apply(create); err != nil {
		t.Fatal(err)
	}
	rej := s.replicas[1].Rejected()
	if len(rej) != 1 || rej[0].Changeset.Key() != bad.Key() || ErrorCode(rej[0].Err) != EMALFORMED {
		t.Fatalf("rejected = %+v", rej)
	}
	if s.replicas[1].PendingCount() != 0 {
		t.Fatal("still pending")
	}
}
