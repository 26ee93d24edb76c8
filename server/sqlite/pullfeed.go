package sqlite

import (
	"sort"
	"sync"
)

// Every phone of a team pulls the same changesets: with fifty phones a team,
// each changeset a worker pushes was read from the log fifty times, and the
// incremental pull was a quarter of the server's CPU under load. pullFeeds
// keeps, per team, the changesets of a recent stretch of the log exactly as
// the incremental pull's query returned them for a one-team scope (bodies
// already restricted to the team's records), so a phone's pull reads from
// the log only what is newer than the feed.
//
// What the query answers about a changeset already in the log changes only
// when the log_version migration's triggers move log_version (a rewrite,
// a deletion, a record moving team): a feed is trusted only at the version
// (and history generation) it was read at. New changesets are appended by
// the pulls that read them.
//
// Only committed reads fill a feed: a pull records what it read in its
// transaction (kept.go), and group.go hands them to the feeds after the
// commit; a sync rolled back to its savepoint drops its own. Otherwise a
// rolled-back push could be served later under a reused log position.
type pullFeeds struct {
	mu    sync.Mutex
	m     map[string]*teamFeed
	bytes int
}

// Bounds: past feedTeamBytes a feed forgets its oldest changesets (a phone
// further behind reads the log, as before); past feedTotalBytes whole feeds
// are dropped.
const (
	feedTeamBytes  = 512 << 10
	feedTotalBytes = 32 << 20
)

// feedRow is one changeset of a team's feed: what the incremental pull
// sends a device of the team that did not author it.
type feedRow struct {
	seq     int64
	replica string   // the author's replica (a device is not sent its own)
	body    []byte   // restricted to the team's records when it touches others
	mine    []string // the team's records it touches (the read audit)
}

// teamFeed holds every changeset in (low, high] that touches a record of
// the team, in log order.
type teamFeed struct {
	gen, version string
	low, high    int64
	rows         []feedRow
	bytes        int
}

// feedView is what a pull may use of a team's feed: rows (seq > the
// device's cursor) and the position up to which they are complete.
type feedView struct {
	rows []feedRow
	high int64
}

// view returns the feed of team from cursor on, if it is trusted at
// version and gen and reaches back to cursor.
func (f *pullFeeds) view(team, gen, version string, cursor int64) (feedView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.m[team]
	if t == nil || t.gen != gen || t.version != version || t.low > cursor {
		return feedView{}, false
	}
	i := sort.Search(len(t.rows), func(i int) bool { return t.rows[i].seq > cursor })
	// Rows are never changed in place and the slice only grows at its end
	// or is replaced, so the caller may read them without the lock.
	return feedView{rows: t.rows[i:len(t.rows):len(t.rows)], high: t.high}, true
}

// feedFill is what one pull read from the log for a team: every changeset
// in (from, to] touching the team's records, at version and gen.
type feedFill struct {
	team, gen, version string
	from, to           int64
	rows               []feedRow
}

// apply takes committed fills, in commit order.
func (f *pullFeeds) apply(fills []feedFill) {
	if len(fills) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*teamFeed{}
	}
	for _, fl := range fills {
		f.applyOne(fl)
	}
}

func (f *pullFeeds) applyOne(fl feedFill) {
	t := f.m[fl.team]
	switch {
	case t == nil || t.gen != fl.gen || t.version != fl.version || fl.from > t.high:
		// Nothing usable to extend: the fill becomes the feed, if it is
		// newer than what it replaces (a phone far behind does not push
		// out the stretch the team's other phones read).
		if t != nil && t.gen == fl.gen && t.version == fl.version && fl.to <= t.high {
			return
		}
		f.drop(fl.team)
		t = &teamFeed{gen: fl.gen, version: fl.version, low: fl.from, high: fl.from}
		f.m[fl.team] = t
		f.add(t, fl.rows, fl.to)
	case fl.to > t.high:
		i := sort.Search(len(fl.rows), func(i int) bool { return fl.rows[i].seq > t.high })
		f.add(t, fl.rows[i:], fl.to)
	default:
		return // nothing newer
	}
	f.trim(fl.team, t)
}

// add appends rows (all after t.high) and moves t.high to high. The rows
// slice is copied on growth by append, never written in place, so views
// handed out earlier stay valid.
func (f *pullFeeds) add(t *teamFeed, rows []feedRow, high int64) {
	for _, r := range rows {
		t.rows = append(t.rows, r)
		n := feedRowBytes(r)
		t.bytes += n
		f.bytes += n
	}
	t.high = high
}

// trim forgets t's oldest rows once past feedTeamBytes, down to three
// quarters of it (the rows are copied when cut, so not at every fill), then
// other teams' feeds past feedTotalBytes.
func (f *pullFeeds) trim(team string, t *teamFeed) {
	cut := 0
	for cut < len(t.rows) && t.bytes > feedTeamBytes*3/4 && (cut > 0 || t.bytes > feedTeamBytes) {
		n := feedRowBytes(t.rows[cut])
		t.bytes -= n
		f.bytes -= n
		t.low = t.rows[cut].seq
		cut++
	}
	if cut > 0 {
		// A new slice: views handed out keep the old one.
		t.rows = append([]feedRow(nil), t.rows[cut:]...)
	}
	for k := range f.m {
		if f.bytes <= feedTotalBytes {
			break
		}
		if k != team {
			f.drop(k)
		}
	}
}

func (f *pullFeeds) drop(team string) {
	if t := f.m[team]; t != nil {
		f.bytes -= t.bytes
		delete(f.m, team)
	}
}

func feedRowBytes(r feedRow) int {
	n := 64 + len(r.body) + len(r.replica)
	for _, id := range r.mine {
		n += 16 + len(id)
	}
	return n
}
