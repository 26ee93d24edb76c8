package syncengine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// simClock is a wall clock a test moves by hand; skew models a phone whose
// clock is wrong.
type simClock struct {
	t    *time.Time
	skew time.Duration
}

func (c simClock) now() time.Time { return c.t.Add(c.skew) }

type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

// sim is a set of replicas and the changesets made so far (the universe
// that a perfect network would deliver).
type sim struct {
	tb       tb
	now      time.Time
	rng      *rand.Rand
	replicas []*Replica
	stores   []*MemStore
	universe []*Changeset
}

// tb is what the simulator needs of a test: *testing.T, *testing.F and
// *rapid.T all have it.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

func newSim(t tb, seed uint64, n int) *sim {
	t.Helper()
	return newSimWith(t, rand.New(rand.NewPCG(seed, 99)), n)
}

// newSimWith runs the simulation on a given source of randomness: a seeded
// PCG, or values drawn by rapid so that a failing schedule shrinks.
func newSimWith(tb tb, rng *rand.Rand, n int) *sim {
	tb.Helper()
	s := &sim{tb: tb, now: time.Date(2026, 11, 20, 19, 0, 0, 0, time.UTC), rng: rng}
	for i := 0; i < n; i++ {
		var skew time.Duration
		if i == 1 {
			skew = 72 * time.Hour // a phone with a clock three days fast
		}
		s.addReplica(NewMemStore(), skew)
	}
	return s
}

func (s *sim) addReplica(st *MemStore, skew time.Duration) *Replica {
	s.tb.Helper()
	var id ReplicaID
	seededReader{s.rng}.Read(id[:])
	id[0] = byte(len(s.replicas) + 1) // never zero, and readable in failures
	r, err := NewReplica(Config{ID: id, Now: simClock{&s.now, skew}.now, Rand: seededReader{s.rng}, Store: st})
	if err != nil {
		s.tb.Fatal(err)
	}
	s.replicas = append(s.replicas, r)
	s.stores = append(s.stores, st)
	return r
}

func (s *sim) edit(i int, author string, fn func(*Txn) error) *Changeset {
	s.tb.Helper()
	s.now = s.now.Add(time.Second)
	cs, err := s.replicas[i].Edit(author, fn)
	if err != nil {
		s.tb.Fatalf("replica %d edit: %v", i, err)
	}
	s.universe = append(s.universe, cs)
	return cs
}

// tryEdit is edit for random schedules: a refused edit is fine (nothing is stored).
func (s *sim) tryEdit(i int, author string, fn func(*Txn) error) {
	s.now = s.now.Add(time.Second)
	before := EncodeSnapshot(s.stores[i].Records())
	cs, err := s.replicas[i].Edit(author, fn)
	if err != nil {
		if after := EncodeSnapshot(s.stores[i].Records()); !bytes.Equal(before, after) {
			s.tb.Fatalf("a refused edit changed state: %v", err)
		}
		return
	}
	s.universe = append(s.universe, cs)
}

// deliver sends a changeset to replica i through a wire round trip.
func (s *sim) deliver(i int, cs *Changeset) {
	s.tb.Helper()
	got, err := DecodeChangeset(EncodeChangeset(cs))
	if err != nil {
		s.tb.Fatalf("wire round trip: %v", err)
	}
	if _, err := s.replicas[i].Apply(got); err != nil {
		s.tb.Fatalf("replica %d apply %s/%d: %v", i, cs.Replica, cs.Start, err)
	}
}

// syncAll delivers everything to everyone in a random order, with duplicates.
func (s *sim) syncAll() {
	s.tb.Helper()
	for i := range s.replicas {
		order := s.rng.Perm(len(s.universe))
		for _, j := range order {
			s.deliver(i, s.universe[j])
			if s.rng.IntN(4) == 0 {
				s.deliver(i, s.universe[s.rng.IntN(len(s.universe))])
			}
		}
	}
}

func (s *sim) assertConverged() {
	s.tb.Helper()
	want := EncodeSnapshot(s.stores[0].Records())
	for _, r := range s.stores[0].Records() {
		if n, c := r.ConflictCount(), r.Conflicts(); n != len(c) {
			s.tb.Fatalf("record %s: ConflictCount %d, Conflicts %v", r.ID, n, c)
		}
	}
	for i := range s.replicas {
		if n := s.replicas[i].PendingCount(); n != 0 {
			s.tb.Fatalf("replica %d still holds %d pending changesets", i, n)
		}
		if got := EncodeSnapshot(s.stores[i].Records()); !bytes.Equal(got, want) {
			s.tb.Errorf("%s", diffRecords(s.stores[i], s.stores[0]))
			s.tb.Fatalf("replica %d diverged from replica 0:\n%s\nvs\n%s", i, dump(s.stores[i].Records()), dump(s.stores[0].Records()))
		}
	}
}

func dump(recs []*Record) string {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %s vv=%v erased=%v values=%v conflicts=%d\n", r.ID, r.Type, r.VV, r.Erased != nil, r.Values(), len(r.Conflicts()))
	}
	return b.String()
}

// randomEdit makes a plausible random save on replica i.
func (s *sim) randomEdit(i int) {
	st := s.stores[i]
	recs := st.Records()
	var live []*Record
	for _, r := range recs {
		if r.Erased == nil && r.Type != "" {
			live = append(live, r)
		}
	}
	author := fmt.Sprintf("w-%d", i)
	if len(live) == 0 || s.rng.IntN(6) == 0 {
		s.tryEdit(i, author, func(tx *Txn) error {
			if s.rng.IntN(2) == 0 {
				return newEncounter(tx, s.now)
			}
			_, err := newReferral(tx)
			return err
		})
		return
	}
	r := live[s.rng.IntN(len(live))]
	// Some saves touch two records (a referral and its follow-up, say).
	r2 := live[s.rng.IntN(len(live))]
	s.tryEdit(i, author, func(tx *Txn) error {
		for k := 0; k < 1+s.rng.IntN(3); k++ {
			if err := s.randomOp(tx, r.ID, r.Type); err != nil {
				return err
			}
		}
		if r2.ID != r.ID && s.rng.IntN(3) == 0 {
			return s.randomOp(tx, r2.ID, r2.Type)
		}
		return nil
	})
}

var areas = []string{"Northgate estate", "Riverside park", "Market square", "Station retail park"}

func (s *sim) randomOp(tx *Txn, id RecordID, typ string) error {
	cur, _ := tx.Record(id)
	textField := "note"
	if typ == TypeReferral {
		textField = "reason"
	}
	switch s.rng.IntN(12) {
	case 0, 1, 2:
		n := len([]rune(cur.String(textField)))
		words := []string{"Met by the skate ramp. ", "Talked about college. ", "Said mum is unwell; ", "é🙂 ", "<script>x</script> "}
		return tx.InsertText(id, textField, s.rng.IntN(n+1), words[s.rng.IntN(len(words))])
	case 3:
		n := len([]rune(cur.String(textField)))
		if n == 0 {
			return nil
		}
		p := s.rng.IntN(n)
		return tx.DeleteText(id, textField, p, 1+s.rng.IntN(min(5, n-p)))
	case 4:
		if typ == TypeReferral {
			return tx.Set(id, "urgency", []string{"routine", "soon", "urgent"}[s.rng.IntN(3)])
		}
		return tx.Set(id, "area", areas[s.rng.IntN(len(areas))])
	case 5:
		if typ == TypeReferral {
			return tx.Set(id, "status", []string{"submitted", "accepted", "declined", "withdrawn"}[s.rng.IntN(4)])
		}
		return tx.Add(id, "topics", Topics[s.rng.IntN(4)])
	case 6:
		if typ == TypeReferral {
			return tx.Set(id, "consent", []string{"given", "refused", "not_asked"}[s.rng.IntN(3)])
		}
		return tx.Remove(id, "topics", Topics[s.rng.IntN(4)])
	case 7:
		if typ == TypeEncounter {
			return tx.Increment(id, "tallies", AgeBands[s.rng.IntN(3)]+"/"+Genders[s.rng.IntN(2)], int64(1+s.rng.IntN(2)))
		}
		return tx.Set(id, "outcome", "seen")
	case 8:
		if s.rng.IntN(2) == 0 {
			return tx.Delete(id)
		}
		return tx.Undelete(id)
	case 9:
		if s.rng.IntN(4) == 0 {
			return tx.Erase(id, "erasure request")
		}
		return nil
	case 10:
		// A field a newer client added: kept and passed on.
		return tx.Set(id, "x_new_field", s.rng.IntN(100))
	default:
		if typ == TypeEncounter {
			return tx.Add(id, "workers", fmt.Sprintf("w-%d", s.rng.IntN(4)))
		}
		return tx.Set(id, "wants", nil) // type error for a text field: refused
	}
}

func newEncounter(tx *Txn, now time.Time) error {
	_, err := newEncounterAt(tx, now, "Northgate estate", "Two young people at the bus shelter. ")
	return err
}

// newEncounterAt creates a valid encounter in team-a with an area and a note.
func newEncounterAt(tx *Txn, now time.Time, area, note string) (RecordID, error) {
	id, err := tx.Create(TypeEncounter)
	if err != nil {
		return "", err
	}
	for _, kv := range []struct {
		f string
		v any
	}{{"team_id", "team-a"}, {"area", area}, {"started_at", now}, {"concern", false}} {
		if err := tx.Set(id, kv.f, kv.v); err != nil {
			return "", err
		}
	}
	return id, tx.InsertText(id, "note", 0, note)
}

// encounter has replica i save a new encounter and returns its id.
func (s *sim) encounter(i int, author, area, note string) RecordID {
	s.tb.Helper()
	var id RecordID
	s.edit(i, author, func(tx *Txn) (err error) {
		id, err = newEncounterAt(tx, s.now, area, note)
		return err
	})
	return id
}

func newReferral(tx *Txn) (RecordID, error) {
	id, err := tx.Create(TypeReferral)
	if err != nil {
		return "", err
	}
	for _, kv := range []struct {
		f string
		v any
	}{{"team_id", "team-a"}, {"young_person_id", "yp-0001"}, {"service_id", "svc-housing"}, {"status", "draft"}, {"urgency", "soon"}, {"consent", "given"}} {
		if err := tx.Set(id, kv.f, kv.v); err != nil {
			return "", err
		}
	}
	return id, tx.InsertText(id, "reason", 0, "Sofa-surfing since the summer. ")
}

// TestConvergenceRandomSchedules is the engine's central property: at least
// three replicas, random offline periods (edits made without delivery),
// duplicated, reordered and re-delivered changesets, erasures, and new
// replicas started mid-way from a snapshot, all converge to byte-identical
// state. -schedules raises the count.
func TestConvergenceRandomSchedules(t *testing.T) {
	n := *flagSchedules
	if testing.Short() {
		n = 100
	}
	first := uint64(1)
	if *flagScheduleSeed != 0 {
		first, n = *flagScheduleSeed, int(*flagScheduleSeed)
	}
	for seed := first; seed <= uint64(n); seed++ {
		runSchedule(t, seed)
		if t.Failed() {
			t.Fatalf("schedule %d failed (rerun with -run %s -schedule-seed %d)", seed, t.Name(), seed)
		}
	}
}

func runSchedule(t *testing.T, seed uint64) {
	runSim(t, newSim(t, seed, 3+int(seed%3)))
}

// runSim plays one random schedule on s and checks convergence, before and
// after compaction.
func runSim(t tb, s *sim) {
	steps := 20 + s.rng.IntN(60)
	for step := 0; step < steps; step++ {
		switch k := s.rng.IntN(10); {
		case k < 5:
			s.randomEdit(s.rng.IntN(len(s.replicas)))
		case k < 8 && len(s.universe) > 0:
			// Partial, out-of-order delivery: some replicas are offline.
			to := s.rng.IntN(len(s.replicas))
			cs := s.universe[s.rng.IntN(len(s.universe))]
			if s.rng.IntN(3) == 0 {
				// Scoped delivery: only some of its records (the rest
				// arrive later, whole or by snapshot).
				drop := cs.Deps[s.rng.IntN(len(cs.Deps))].Record
				if r, ok := RestrictChangeset(cs, func(id RecordID) bool { return id != drop }); ok {
					cs = r
				}
			}
			s.deliver(to, cs)
		case k < 9 && len(s.universe) > 0:
			// A record comes into a replica's scope as a snapshot of its
			// state elsewhere, taken when it has seen at least as much.
			from, to := s.rng.IntN(len(s.replicas)), s.rng.IntN(len(s.replicas))
			recs := s.stores[from].Records()
			if len(recs) == 0 {
				break
			}
			r := recs[s.rng.IntN(len(recs))]
			if mine, _ := s.stores[to].Record(r.ID); mine == nil || r.VV.Covers(mine.VV) {
				got, err := DecodeRecord(EncodeRecord(r))
				if err != nil {
					t.Fatal(err)
				}
				s.stores[to].Put(got)
			}
		case len(s.replicas) < 7:
			// A new phone starts from a snapshot of another replica.
			from := s.rng.IntN(len(s.replicas))
			recs, err := DecodeSnapshot(EncodeSnapshot(s.stores[from].Records()))
			if err != nil {
				t.Fatal(err)
			}
			st := NewMemStore()
			for _, r := range recs {
				st.Put(r)
			}
			s.addReplica(st, 0)
		}
	}
	// History compaction on replica 0 must not change anything visible.
	s.syncAll()
	s.assertConverged()
	var seen []VV
	for _, st := range s.stores {
		var vv VV
		for _, r := range st.Records() {
			vv = vv.Merge(r.VV)
		}
		seen = append(seen, vv)
	}
	s.stores[0].Compact(Stable(seen...))
	s.assertConverged()
}

// diffRecords names the first record and field whose encodings differ.
func diffRecords(a, b *MemStore) string {
	for _, ra := range a.Records() {
		rb, _ := b.Record(ra.ID)
		if rb == nil {
			return fmt.Sprintf("record %s missing", ra.ID)
		}
		if bytes.Equal(EncodeRecord(ra), EncodeRecord(rb)) {
			continue
		}
		for name, fa := range ra.Fields {
			fb := rb.Fields[name]
			if fb == nil {
				return fmt.Sprintf("record %s field %s missing", ra.ID, name)
			}
			x, y := &Record{ID: "x", Fields: map[string]*Field{name: fa}}, &Record{ID: "x", Fields: map[string]*Field{name: fb}}
			if !bytes.Equal(EncodeRecord(x), EncodeRecord(y)) {
				if fa.Kind == KindText {
					return fmt.Sprintf("record %s text field %s differs:\n%q\n%q\n%x\n%x", ra.ID, name, fa.Text.String(), fb.Text.String(), fa.Text.AppendBinary(nil), fb.Text.AppendBinary(nil))
				}
				return fmt.Sprintf("record %s field %s differs: %+v vs %+v", ra.ID, name, fa, fb)
			}
		}
		return fmt.Sprintf("record %s header differs: %+v %v %v %v vs %+v %v %v %v", ra.ID, ra.VV, ra.Created, ra.Updated, ra.Authors, rb.VV, rb.Created, rb.Updated, rb.Authors)
	}
	return "no record differs"
}
