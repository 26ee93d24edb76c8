package sqlite

import (
	"bytes"
	"fmt"
	"testing"
)

// feedRowsFrom makes the rows of log positions from+1..to, each with a
// body of size bytes naming its position.
func feedRowsFrom(from, to int64, size int) []feedRow {
	var rows []feedRow
	for s := from + 1; s <= to; s++ {
		body := bytes.Repeat([]byte{'x'}, size)
		copy(body, fmt.Sprint(s))
		rows = append(rows, feedRow{seq: s, replica: "r", body: body, mine: []string{"rec"}})
	}
	return rows
}

// The feeds' rules, one fill at a time: what a view may answer, how fills
// extend or replace a feed, and the memory bounds (a view handed out
// before a trim stays whole).
func TestPullFeedsBoundsAndViews(t *testing.T) {
	var f pullFeeds
	f.apply([]feedFill{{team: "a", gen: "g", version: "v1", from: 10, to: 20, rows: feedRowsFrom(10, 20, 100)}})
	for _, tc := range []struct {
		name            string
		team, gen, ver  string
		cursor          int64
		ok              bool
		wantRows        int
		wantFirst, high int64
	}{
		{"cursor at the feed's start", "a", "g", "v1", 10, true, 10, 11, 20},
		{"cursor inside", "a", "g", "v1", 15, true, 5, 16, 20},
		{"cursor at the end", "a", "g", "v1", 20, true, 0, 0, 20},
		{"cursor before the feed", "a", "g", "v1", 9, false, 0, 0, 0},
		{"another version", "a", "g", "v2", 15, false, 0, 0, 0},
		{"another generation", "a", "h", "v1", 15, false, 0, 0, 0},
		{"another team", "b", "g", "v1", 15, false, 0, 0, 0},
	} {
		v, ok := f.view(tc.team, tc.gen, tc.ver, tc.cursor)
		if ok != tc.ok || len(v.rows) != tc.wantRows || ok && v.high != tc.high || tc.wantRows > 0 && v.rows[0].seq != tc.wantFirst {
			t.Errorf("%s: ok %v, %d rows, high %d; want %v, %d rows from %d, high %d", tc.name, ok, len(v.rows), v.high, tc.ok, tc.wantRows, tc.wantFirst, tc.high)
		}
	}
	// A fill that overlaps extends the feed; one that is not newer changes
	// nothing; one after a gap, or at another version, replaces it.
	f.apply([]feedFill{{team: "a", gen: "g", version: "v1", from: 15, to: 25, rows: feedRowsFrom(15, 25, 100)}})
	if v, ok := f.view("a", "g", "v1", 10); !ok || v.high != 25 || len(v.rows) != 15 {
		t.Fatalf("overlapping fill: ok %v, high %d, %d rows; want 25, 15", ok, v.high, len(v.rows))
	}
	f.apply([]feedFill{{team: "a", gen: "g", version: "v1", from: 0, to: 12, rows: feedRowsFrom(0, 12, 100)}})
	if v, ok := f.view("a", "g", "v1", 10); !ok || v.high != 25 || len(v.rows) != 15 {
		t.Fatalf("older fill changed the feed: ok %v, high %d, %d rows", ok, v.high, len(v.rows))
	}
	f.apply([]feedFill{{team: "a", gen: "g", version: "v1", from: 30, to: 32, rows: feedRowsFrom(30, 32, 100)}})
	if _, ok := f.view("a", "g", "v1", 25); ok {
		t.Fatal("a feed with a hole between 25 and 30 answered a cursor at 25")
	}
	f.apply([]feedFill{{team: "a", gen: "g", version: "v2", from: 40, to: 41, rows: feedRowsFrom(40, 41, 100)}})
	if _, ok := f.view("a", "g", "v1", 40); ok {
		t.Fatal("the feed still answers at the version it was replaced from")
	}

	// Memory: one team's feed stays within feedTeamBytes, forgetting its
	// oldest rows (a cursor before them is refused), and a view taken
	// before the trim keeps its rows.
	const size = 4000
	high := int64(41)
	for range 300 {
		before, _ := f.view("a", "g", "v2", f.m["a"].low)
		first := append([]feedRow(nil), before.rows...)
		f.apply([]feedFill{{team: "a", gen: "g", version: "v2", from: high, to: high + 1, rows: feedRowsFrom(high, high+1, size)}})
		high++
		for i, r := range before.rows {
			if r.seq != first[i].seq || !bytes.Equal(r.body, first[i].body) {
				t.Fatalf("a view taken before a fill changed: row %d is %d, was %d", i, r.seq, first[i].seq)
			}
		}
	}
	tf := f.m["a"]
	if tf.bytes > feedTeamBytes || f.bytes != tf.bytes {
		t.Fatalf("feed holds %d bytes (total %d), bound %d", tf.bytes, f.bytes, feedTeamBytes)
	}
	if _, ok := f.view("a", "g", "v2", 40); ok {
		t.Fatal("a cursor before the forgotten rows was answered")
	}
	if v, ok := f.view("a", "g", "v2", tf.low); !ok || v.high != high || int64(len(v.rows)) != high-tf.low {
		t.Fatalf("after trimming: ok %v, high %d, %d rows from %d", ok, v.high, len(v.rows), tf.low)
	}
	// All teams together stay within feedTotalBytes.
	for i := range 2 * feedTotalBytes / feedTeamBytes {
		team := fmt.Sprint("t", i)
		f.apply([]feedFill{{team: team, gen: "g", version: "v", from: 0, to: 120, rows: feedRowsFrom(0, 120, size)}})
	}
	sum := 0
	for _, tf := range f.m {
		sum += tf.bytes
	}
	if f.bytes > feedTotalBytes || sum != f.bytes {
		t.Fatalf("feeds hold %d bytes (counted %d), bound %d", sum, f.bytes, feedTotalBytes)
	}
}
