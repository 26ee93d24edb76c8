package domain

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/joinedup/joinedup/syncengine"
)

func newTestReplica(t *testing.T) *syncengine.Replica {
	t.Helper()
	id, err := syncengine.NewReplicaID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC) },
		Rand: rand.Reader, Store: syncengine.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func youngPerson(t *testing.T, rep *syncengine.Replica, kv map[string]any) *syncengine.Record {
	t.Helper()
	var id syncengine.RecordID
	if _, err := rep.Edit("s1", func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeYoungPerson); err != nil {
			return err
		}
		for k, v := range kv {
			if k == "wants" {
				err = tx.InsertText(id, k, 0, v.(string))
			} else {
				err = tx.Set(id, k, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r, err := rep.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLikelyDuplicates(t *testing.T) {
	rep := newTestReplica(t)
	base := map[string]any{"team_id": "ta", "known_as": "Jayden", "age_band": "14-15", "area": "Brook Park"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	a := youngPerson(t, rep, base)
	cases := []struct {
		name  string
		other map[string]any
		want  bool
	}{
		{"same name, case and spaces", with("known_as", " jayden", "area", "brook  park"), true},
		{"one slip", with("known_as", "Jaydon"), true},
		{"one has a surname initial", with("known_as", "Jayden M"), true},
		{"different name", with("known_as", "Jordan"), false},
		{"short names must match", with("known_as", "Jay"), false},
		{"other age band", with("age_band", "16-17"), false},
		{"age band not recorded", with("age_band", ""), true},
		{"other area", with("area", "Riverside"), false},
		{"other team", with("team_id", "tb"), false},
		{"merged profile", with("merged_into", "y_other"), false},
	}
	for _, tc := range cases {
		b := youngPerson(t, rep, tc.other)
		if got := LikelyDuplicates(a, b); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if LikelyDuplicates(a, b) != LikelyDuplicates(b, a) {
			t.Errorf("%s: not symmetric", tc.name)
		}
	}
	if LikelyDuplicates(a, a) {
		t.Error("a profile is its own duplicate")
	}
}

func TestMergeKeepsBothSides(t *testing.T) {
	rep := newTestReplica(t)
	w := youngPerson(t, rep, map[string]any{"team_id": "ta", "known_as": "Jaydon", "area": "Brook Park", "wants": "Football"})
	l := youngPerson(t, rep, map[string]any{"team_id": "ta", "known_as": "Jayden", "area": "Brook Park", "gender": "male",
		"safeguarding_hold": true, "wants": strings.Repeat("x", 3990)})
	req := MergeRequest{Winner: w, Loser: l, Reason: "same young person", By: "Sam", At: "2 March 2026"}
	for _, bad := range []MergeRequest{
		{Winner: w, Loser: w, Reason: "same"},
		{Winner: w, Loser: l, Reason: "x"},
		{Winner: w, Loser: youngPerson(t, rep, map[string]any{"team_id": "tb", "known_as": "J"}), Reason: "same young person"},
		{Winner: w, Loser: youngPerson(t, rep, map[string]any{"team_id": "ta", "known_as": "J", "merged_into": "y1"}), Reason: "same young person"},
	} {
		if err := CheckMerge(bad); err == nil {
			t.Errorf("CheckMerge(%s into %s, %q) allowed", bad.Loser.String("known_as"), bad.Winner.String("known_as"), bad.Reason)
		}
	}
	if _, err := rep.Edit("s1", func(tx *syncengine.Txn) error { return Merge(tx, req) }); err != nil {
		t.Fatalf("merge: %v", err)
	}
	w, _ = rep.Record(w.ID)
	l, _ = rep.Record(l.ID)
	if MergedInto(l) != string(w.ID) || l.Deleted() {
		t.Errorf("loser: merged_into %q deleted %v", MergedInto(l), l.Deleted())
	}
	if w.String("gender") != "male" || !w.Bool("safeguarding_hold") || w.String("known_as") != "Jaydon" {
		t.Errorf("winner fields: %v", w.Values())
	}
	wants := w.String("wants")
	if !strings.HasPrefix(wants, "Football\n\nMerged with the profile \"Jayden\"") || utf8.RuneCountInString(wants) > 4000 || !strings.Contains(wants, "known as: Jayden") {
		t.Errorf("winner wants (%d runes): %.120q", utf8.RuneCountInString(wants), wants)
	}
	if l.String("wants") != strings.Repeat("x", 3990) {
		t.Error("the loser's own text changed")
	}
}

// SearchTerms is the only way a person's words reach an index's query
// language: whatever comes in, only words of letters and digits come out.
func FuzzSearchTerms(f *testing.F) {
	for _, s := range []string{"college", `a" OR "b*`, "NEAR(x y)", "zoë-lee 42", "x:* & !y", strings.Repeat("ab ", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms := SearchTerms(q)
		if len(terms) > MaxSearchTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if utf8.RuneCountInString(term) < 2 {
				t.Fatalf("term %q too short", term)
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					t.Fatalf("term %q holds %q", term, r)
				}
			}
		}
	})
}

// CleanSavedFilter takes a query from a form: whatever comes in, what it
// keeps parses, is bounded and holds no paging.
func FuzzCleanSavedFilter(f *testing.F) {
	for _, s := range []string{"concern=urgent&page=3", "%zz", "a=1&a=2&_csrf=x", "?q=" + strings.Repeat("x", 600)} {
		f.Add("Mine", s)
	}
	f.Fuzz(func(t *testing.T, name, q string) {
		out, err := CleanSavedFilter(SavedFilter{PersonID: "p", List: "encounters", Name: name, Query: q})
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		v, perr := url.ParseQuery(out.Query)
		if perr != nil || len(out.Query) > 500 || v.Has("page") || v.Has("_csrf") || out.Name == "" {
			t.Fatalf("kept %+v", out)
		}
	})
}
