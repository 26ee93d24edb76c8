package syncengine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine/text"
)

func TestFieldReaders(t *testing.T) {
	at := time.Date(2025, 10, 20, 19, 30, 0, 0, time.UTC)
	reg := func(author string, ts Timestamp, v string) RegValue {
		return RegValue{Time: ts, Author: author, Value: json.RawMessage(v)}
	}
	r := &Record{Fields: map[string]*Field{
		"flag":     {Kind: KindRegister, Values: []RegValue{reg("w1", MakeTimestamp(at, 0), `true`)}},
		"off":      {Kind: KindRegister, Values: []RegValue{reg("w1", 0, `false`)}},
		"word":     {Kind: KindRegister, Values: []RegValue{reg("w2", 0, `"yes"`)}},
		"when":     {Kind: KindRegister, Values: []RegValue{reg("w1", 0, `"2025-10-20T19:30:00Z"`)}},
		"bad_when": {Kind: KindRegister, Values: []RegValue{reg("w1", 0, `"tomorrow"`)}},
		"raced":    {Kind: KindRegister, Values: []RegValue{reg("w2", MakeTimestamp(at.Add(time.Minute), 0), `true`), reg("w1", MakeTimestamp(at, 0), `false`)}},
		"empty":    {Kind: KindRegister},
		"tags":     {Kind: KindSet, Set: map[string][]ID{"b": nil, "a": nil}},
		"visits":   {Kind: KindCounter, Counts: map[string]int64{"x": 2}},
		"note":     {Kind: KindText, Text: text.New()},
	}}
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"Bool true", r.Bool("flag"), true},
		{"Bool false", r.Bool("off"), false},
		{"Bool of a string", r.Bool("word"), false},
		{"Bool of a set", r.Bool("tags"), false},
		{"Bool absent", r.Bool("nothing"), false},
		{"Bool of a register with no values", r.Bool("empty"), false},
		{"Bool of a conflict: the winner", r.Bool("raced"), true},
		{"Time", r.Time("when"), at},
		{"Time malformed", r.Time("bad_when"), time.Time{}},
		{"Time of a bool", r.Time("flag"), time.Time{}},
		{"Author", r.Author("word"), "w2"},
		{"Author of the winner", r.Author("raced"), "w2"},
		{"Author of a set", r.Author("tags"), ""},
		{"WrittenAt", r.WrittenAt("flag"), at},
		{"WrittenAt absent", r.WrittenAt("nothing"), time.Time{}},
		{"Set sorted", r.Set("tags"), []string{"a", "b"}},
		{"Set of a register", r.Set("flag"), []string(nil)},
		{"Counts", r.Counts("visits"), map[string]int64{"x": 2}},
		{"Counts of text", r.Counts("note"), map[string]int64(nil)},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	// Counts is a copy: a caller cannot change the record through it.
	r.Counts("visits")["x"] = 99
	if r.Fields["visits"].Counts["x"] != 2 {
		t.Fatal("Counts returned the record's own map")
	}
}
