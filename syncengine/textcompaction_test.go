package syncengine

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/joinedup/joinedup/syncengine/text"
)

// textHub is a server as JoinedUp runs one, in miniature: it applies what
// phones push (re-pointing ops that name text it compacted away), logs it,
// and a phone pulling past a late insert is sent the record whole, which
// replaces its copy (its unpushed saves re-applied on top).
type textHub struct {
	rec     *Record
	tc      *TextCompaction
	log     []*Changeset
	rebases []int // log positions after which the record was re-sent
	late    int   // late saves (made before a compaction)
	// repointed counts late saves that named dropped text.
	repointed int
}

type textPhone struct {
	r      *Replica
	st     *MemStore
	pushed int // own changesets pushed
	cursor int // hub log position pulled to
}

func (h *textHub) get(id RecordID) (*Record, error) {
	if h.rec != nil && h.rec.ID == id {
		return h.rec, nil
	}
	return nil, nil
}

func (h *textHub) comp(RecordID) (*TextCompaction, error) { return h.tc, nil }

func (h *textHub) at(RecordID) (VV, error) {
	if h.tc == nil {
		return nil, nil
	}
	return h.tc.VV, nil
}

func (h *textHub) push(t *rapid.T, cs *Changeset) {
	res, stored, late, err := ApplyCompacted(cs, h.get, h.at, h.comp)
	if err != nil || res.Status != Applied {
		t.Fatalf("hub cannot place a save: %v %v", err, res)
	}
	if stored != cs {
		h.repointed++
	}
	h.rec = res.Records[0]
	if len(late) > 0 {
		h.rebases = append(h.rebases, len(h.log))
		h.late++
	}
	h.log = append(h.log, stored)
}

func (p *textPhone) own() []*Changeset {
	var out []*Changeset
	for _, cs := range p.st.Log() {
		if cs.Replica == p.r.ID() {
			out = append(out, cs)
		}
	}
	return out
}

func (p *textPhone) pushTo(t *rapid.T, h *textHub) {
	own := p.own()
	for _, cs := range own[p.pushed:] {
		h.push(t, cs)
	}
	p.pushed = len(own)
}

func (p *textPhone) pullFrom(t *rapid.T, h *textHub, id RecordID) {
	if slices.ContainsFunc(h.rebases, func(at int) bool { return at >= p.cursor }) {
		rec, err := DecodeRecord(EncodeRecord(h.rec))
		if err != nil {
			t.Fatal(err)
		}
		p.st.Put(rec)
		// Saves not pushed yet go on top; one naming text the hub
		// dropped waits for the next rebase (it is pushed meanwhile).
		for _, cs := range p.own()[p.pushed:] {
			res, err := Apply(cs, p.st.Record)
			if err == nil && res.Status == Applied {
				p.st.Put(res.Records[0])
			}
		}
	} else {
		for _, cs := range h.log[p.cursor:] {
			if cs.Replica == p.r.ID() {
				continue
			}
			if st, err := p.r.Apply(cs); err != nil || st == Pending {
				t.Fatalf("phone cannot apply the hub's changeset: %v %v", st, err)
			}
		}
	}
	p.cursor = len(h.log)
}

// Phones edit a note concurrently; one has saves it has not pushed (typed
// while a pull was in flight) when the hub, seeing every phone caught up,
// compacts the note. The late saves are applied, re-pointed where they name
// dropped text; afterwards every phone shows the hub's note, as the hub's
// state also round-trips its encoding, and compacting shrinks the note's
// state.
func TestPropertyTextCompactionWithLateSaves(t *testing.T) {
	lateSeen, repointed := 0, 0
	rapid.Check(t, func(t *rapid.T) {
		now := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
		id := RecordID("0123456789abcdef0123456789abcdef")
		h := &textHub{}
		phones := make([]*textPhone, 3)
		for i := range phones {
			r, st := seededReplica(t, i, 3, now)
			phones[i] = &textPhone{r: r, st: st}
		}
		createEncounter(t, phones[0].r, id, now)
		sync := func(p *textPhone) { p.pushTo(t, h); p.pullFrom(t, h, id) }
		syncAll := func() {
			for _, p := range phones {
				sync(p)
			}
			for _, p := range phones {
				sync(p)
			}
		}
		edit := func(p *textPhone) {
			cur, _ := p.r.Record(id)
			_, _ = p.r.Edit("w1", drawEdit(t, id, cur.Fields["note"].textLen()))
		}
		syncAll()
		for round := rapid.IntRange(1, 3).Draw(t, "rounds"); round > 0; round-- {
			for k := rapid.IntRange(1, 25).Draw(t, "edits"); k > 0; k-- {
				edit(phones[rapid.IntRange(0, 2).Draw(t, "phone")])
				if rapid.IntRange(0, 3).Draw(t, "sync") == 0 {
					sync(phones[rapid.IntRange(0, 2).Draw(t, "who")])
				}
			}
			syncAll()
			// Phone 2 saves while its pull is in flight: the pull lands,
			// its saves have not left.
			for k := rapid.IntRange(0, 6).Draw(t, "late"); k > 0; k-- {
				edit(phones[2])
			}
			for k := rapid.IntRange(0, 10).Draw(t, "more"); k > 0; k-- {
				edit(phones[rapid.IntRange(0, 1).Draw(t, "other")])
			}
			sync(phones[0])
			sync(phones[1])
			phones[2].pullFrom(t, h, id)
			sync(phones[0])
			sync(phones[1])
			// Every phone's cursor is at the end: the hub compacts.
			noteBytes := func(r *Record) int {
				if f := r.Fields["note"]; f != nil && f.Text != nil {
					return len(f.Text.AppendBinary(nil))
				}
				return 0
			}
			keptBytes := noteBytes(h.rec)
			before := h.rec.String("note")
			rec := h.rec.cow()
			var n int
			h.tc, n = rec.CompactTextKeeping(h.tc)
			if rec.String("note") != before {
				t.Fatalf("compaction changed the note")
			}
			if noteBytes(rec) > keptBytes {
				t.Fatalf("compaction dropped %d tombstones, the note's state went %d -> %d bytes", n, keptBytes, noteBytes(rec))
			}
			if h.tc != nil {
				b := EncodeTextCompaction(h.tc)
				tc, err := DecodeTextCompaction(b)
				if err != nil || !bytes.Equal(EncodeTextCompaction(tc), b) {
					t.Fatalf("text compaction state does not round-trip: %v", err)
				}
				h.tc = tc
			}
			var err error
			h.rec, err = DecodeRecord(EncodeRecord(rec))
			if err != nil {
				t.Fatal(err)
			}
		}
		syncAll()
		syncAll()
		want := h.rec.String("note")
		for i, p := range phones {
			got, _ := p.r.Record(id)
			if got.String("note") != want {
				t.Fatalf("phone %d shows %q, the hub %q (%d late saves, %d re-pointed)", i, got.String("note"), want, h.late, h.repointed)
			}
		}
		lateSeen += h.late
		repointed += h.repointed
	})
	if lateSeen == 0 {
		t.Fatal("no save was late: the test tests nothing")
	}
	t.Logf("%d late saves, %d of them re-pointed", lateSeen, repointed)
}

func FuzzDecodeTextCompaction(f *testing.F) {
	f.Add(EncodeTextCompaction(&TextCompaction{VV: VV{{Replica: ReplicaID{1}, Seq: 9}}}))
	// A real one: ten characters typed in ten places, eight deleted.
	d := text.New()
	for i := 0; i < 10; i++ {
		d.LocalInsert(text.ID{Replica: ReplicaID{1}, Seq: uint64(i + 1)}, 0, "x")
	}
	d.LocalDelete(1, 8)
	x, _ := d.CompactKeeping(nil)
	f.Add(EncodeTextCompaction(&TextCompaction{VV: VV{{Replica: ReplicaID{1}, Seq: 10}}, Fields: map[string]*text.Dropped{"note": x, "summary": x}}))
	f.Add([]byte("JUT\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tc, err := DecodeTextCompaction(b)
		if err != nil {
			if ErrorCode(err) != EMALFORMED && ErrorCode(err) != ETOOLARGE {
				t.Fatalf("code %q: %v", ErrorCode(err), err)
			}
			return
		}
		enc := EncodeTextCompaction(tc)
		if _, err := DecodeTextCompaction(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
