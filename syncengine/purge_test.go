package syncengine

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedactWords(t *testing.T) {
	for _, tc := range []struct {
		text  string
		words []string
		want  [][2]int
	}{
		{"Met Zebedee today", []string{"zebedee"}, [][2]int{{4, 7}}},
		{"zebedee and ZEBEDEE", []string{"Zebedee"}, [][2]int{{12, 7}, {0, 7}}},
		{"Café Zoë, café", []string{"café"}, [][2]int{{10, 4}, {0, 4}}},
		{"İstanbul then Zoë", []string{"zoë"}, [][2]int{{14, 3}}}, // İ changes length when lower-cased
		{"Flat 9b Quornfield", []string{"Flat 9b", "9b Quorn"}, [][2]int{{0, 13}}},
		{"nothing here", []string{"Zebedee", " ", ""}, nil},
	} {
		if got := RedactWords(tc.text, tc.words); !slices.Equal(got, tc.want) {
			t.Errorf("RedactWords(%q, %q) = %v, want %v", tc.text, tc.words, got, tc.want)
		}
	}
}

// FuzzRedactWords: after the cuts are replaced by a marker, no word is left
// in the text (unless the marker itself contains it).
func FuzzRedactWords(f *testing.F) {
	f.Add("Met Zebedee by the canal, zebedee said", "Zebedee")
	f.Add("İİİ zoë ZOË", "zoë")
	f.Add("aaaa", "aa")
	f.Fuzz(func(t *testing.T, text, word string) {
		if !utf8Valid(text) || !utf8Valid(word) || strings.TrimSpace(word) == "" || strings.Contains("[x]", strings.ToLower(strings.TrimSpace(word))) {
			return
		}
		rs := []rune(text)
		for _, c := range RedactWords(text, []string{word}) {
			if c[0] < 0 || c[1] <= 0 || c[0]+c[1] > len(rs) {
				t.Fatalf("cut %v outside %d runes", c, len(rs))
			}
			rs = append(append(append([]rune{}, rs[:c[0]]...), []rune("[x]")...), rs[c[0]+c[1]:]...)
		}
		w := []rune(strings.TrimSpace(word))
		for i := 0; i+len(w) <= len(rs); i++ {
			if strings.EqualFold(string(rs[i:i+len(w)]), string(w)) {
				t.Fatalf("%q still holds %q after redaction: %q", text, word, string(rs))
			}
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// A redaction's deleted words are scrubbed from history; history replayed
// on a fresh replica gives the same record, and erased records' ops become
// placeholders.
func TestPurgeChangesetScrubsHistory(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	st := NewMemStore()
	rep, err := NewReplica(Config{ID: ReplicaID{1}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(1, 2))}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var enc, yp RecordID
	edit := func(fn func(tx *Txn) error) {
		t.Helper()
		if _, err := rep.Edit("w1", fn); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(tx *Txn) (err error) {
		if yp, err = tx.Create(TypeYoungPerson); err != nil {
			return err
		}
		tx.Set(yp, "team_id", "team_a")
		tx.Set(yp, "known_as", "Zebedee")
		if enc, err = tx.Create(TypeEncounter); err != nil {
			return err
		}
		tx.Set(enc, "team_id", "team_a")
		tx.Set(enc, "area", "park")
		tx.Set(enc, "started_at", now)
		tx.Add(enc, "young_people", string(yp))
		return tx.InsertText(enc, "note", 0, "Met Zebedee by the canal.")
	})
	edit(func(tx *Txn) error { return tx.InsertText(enc, "note", 25, " Zebedee laughed.") })
	// The redaction, as the server makes it.
	edit(func(tx *Txn) error {
		r, _ := tx.Record(enc)
		for _, c := range RedactWords(r.String("note"), []string{"zebedee"}) {
			if err := tx.DeleteText(enc, "note", c[0], c[1]); err != nil {
				return err
			}
			if err := tx.InsertText(enc, "note", c[0], "[redacted]"); err != nil {
				return err
			}
		}
		if err := tx.Remove(enc, "young_people", string(yp)); err != nil {
			return err
		}
		return tx.Erase(yp, "request 1")
	})
	final, _ := st.Record(enc)
	final = final.Clone()
	final.PurgeDeletedText()
	erased, _ := st.Record(yp)
	get := func(id RecordID) *Record {
		switch id {
		case enc:
			return final
		case yp:
			return erased
		}
		return nil
	}
	fresh := NewMemStore()
	rep2, _ := NewReplica(Config{ID: ReplicaID{2}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(3, 4))}, Store: fresh})
	for _, cs := range st.Log() {
		out, _ := PurgeChangeset(cs, get)
		if out.Replica != cs.Replica || out.Start != cs.Start || out.Span() != cs.Span() {
			t.Fatalf("purge changed the changeset's identity")
		}
		if b := EncodeChangeset(out); bytes.Contains(b, []byte("Zebedee")) {
			t.Fatalf("scrubbed changeset %d still holds the name", cs.Start)
		}
		if _, err := rep2.Apply(out); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := fresh.Record(enc)
	if got.String("note") != "Met [redacted] by the canal. [redacted] laughed." || got.String("note") != final.String("note") {
		t.Fatalf("replayed note %q, want %q", got.String("note"), final.String("note"))
	}
	if r, _ := fresh.Record(yp); r == nil || r.Erased == nil || len(r.Fields) != 0 {
		t.Fatalf("erased record replayed: %+v", r)
	}
	if b := EncodeRecord(final); bytes.Contains(b, []byte("Zebedee")) {
		t.Fatal("the purged state still holds the name")
	}
}

// A redaction scrubs from history every inserted character the record has
// deleted, and that includes those text compaction has since dropped from
// the record (a holder that compacts no longer knows them as deleted, only
// as applied and gone).
func TestPurgeChangesetScrubsCompactedText(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	st := NewMemStore()
	rep, err := NewReplica(Config{ID: ReplicaID{1}, Now: func() time.Time { return now }, Rand: seededReader{rand.New(rand.NewPCG(1, 2))}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var enc RecordID
	edit := func(fn func(tx *Txn) error) {
		t.Helper()
		if _, err := rep.Edit("w1", fn); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(tx *Txn) (err error) {
		if enc, err = tx.Create(TypeEncounter); err != nil {
			return err
		}
		tx.Set(enc, "team_id", "team_a")
		tx.Set(enc, "area", "park")
		tx.Set(enc, "started_at", now)
		return tx.InsertText(enc, "note", 0, "met by the canal")
	})
	// A name typed a letter at a time, right to left (each letter its own
	// run), then rubbed out.
	for _, c := range []string{"W", "J", "X", "Q"} {
		edit(func(tx *Txn) error { return tx.InsertText(enc, "note", 3, c) })
	}
	edit(func(tx *Txn) error { return tx.DeleteText(enc, "note", 3, 4) })
	rec, _ := st.Record(enc)
	compacted := rec.Clone()
	if _, n := compacted.CompactTextKeeping(nil); n == 0 {
		t.Fatal("nothing compacted: the test tests nothing")
	}
	get := func(id RecordID) *Record {
		if id == enc {
			return compacted
		}
		return nil
	}
	for _, cs := range st.Log() {
		out, _ := PurgeChangeset(cs, get)
		for _, op := range out.Ops {
			if strings.ContainsAny(op.Text, "QXJW") {
				t.Fatalf("changeset %d still holds %q after compaction", cs.Start, op.Text)
			}
		}
	}
}
