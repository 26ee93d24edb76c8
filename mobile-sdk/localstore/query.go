package localstore

import (
	"cmp"
	"slices"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Order is how Find sorts.
type Order int

const (
	ByID          Order = iota
	ByUpdatedDesc       // most recently changed first
	ByStarted           // encounters, earliest first
	ByDue               // follow-ups, soonest first
	ByChronology        // the young person's profile, then by when
)

// Query selects records. Zero fields select everything.
type Query struct {
	Type        string
	Live        bool   // leave out deleted and erased records
	YoungPerson string // only records about this young person (a chronology)
	// Encounters started in [StartedFrom, StartedTo) (unix ms); both 0: any.
	StartedFrom, StartedTo int64
	Assignee, Status       string
	DueBefore              int64 // unix ms; 0: any
	Order                  Order
}

// Index is what a store may keep plain beside a sealed record so its lists
// can filter and sort without decrypting: ids, times and statuses, never
// text a person typed.
type Index struct {
	Team, YoungPerson, Assignee, Status string
	Started, Due, Updated               int64 // unix ms
	Deleted                             bool
	Conflicts                           int
	Links                               []string // young people the record is about
}

// IndexOf derives a record's index. The team is where the server files the
// record (syncengine.FileRecord: a referral or follow-up is its young
// person's), looked up through teamOf.
func IndexOf(r *syncengine.Record, teamOf func(syncengine.RecordID) string) Index {
	f := syncengine.FileRecord(r, "", teamOf)
	ix := Index{Team: f.Team, YoungPerson: f.YoungPerson, Status: r.String("status"), Assignee: r.String("assignee"),
		Updated: r.Updated.Millis(), Deleted: r.Deleted() || r.Erased != nil, Conflicts: len(r.Conflicts())}
	ms := func(field string) int64 {
		t, err := time.Parse(time.RFC3339Nano, r.String(field))
		if err != nil {
			return 0
		}
		return t.UnixMilli()
	}
	switch r.Type {
	case syncengine.TypeEncounter:
		ix.Started = ms("started_at")
		if f := r.Fields["young_people"]; f != nil && f.Kind == syncengine.KindSet {
			ix.Links = f.Elements()
		}
	case syncengine.TypeFollowUp:
		ix.Due = ms("due_at")
	}
	if ix.YoungPerson != "" {
		ix.Links = append(ix.Links, ix.YoungPerson)
	}
	return ix
}

// Match reports whether a record of type typ with index ix is selected by q.
// For stores that filter in Go (IndexedDB); SQLite says the same in SQL.
func (q Query) Match(typ string, ix Index) bool {
	switch {
	case q.Type != "" && typ != q.Type,
		q.Live && ix.Deleted,
		q.YoungPerson != "" && !slices.Contains(ix.Links, q.YoungPerson),
		(q.StartedFrom != 0 || q.StartedTo != 0) && (ix.Started < q.StartedFrom || ix.Started >= q.StartedTo),
		q.Assignee != "" && ix.Assignee != q.Assignee,
		q.Status != "" && ix.Status != q.Status,
		q.DueBefore != 0 && ix.Due >= q.DueBefore:
		return false
	}
	return true
}

// Sort orders recs (with their indexes, same positions) by q.Order.
func (q Query) Sort(recs []*syncengine.Record, ixs []Index) {
	type pair struct {
		r  *syncengine.Record
		ix Index
	}
	ps := make([]pair, len(recs))
	for i := range recs {
		ps[i] = pair{recs[i], ixs[i]}
	}
	when := func(p pair) int64 {
		switch {
		case p.ix.Started > 0:
			return p.ix.Started
		case p.ix.Due > 0:
			return p.ix.Due
		}
		return p.ix.Updated
	}
	slices.SortStableFunc(ps, func(a, b pair) int {
		var c int
		switch q.Order {
		case ByUpdatedDesc:
			c = cmp.Compare(b.ix.Updated, a.ix.Updated)
		case ByStarted:
			c = cmp.Compare(a.ix.Started, b.ix.Started)
		case ByDue:
			c = cmp.Compare(a.ix.Due, b.ix.Due)
		case ByChronology:
			first := func(p pair) int {
				if p.r.Type == syncengine.TypeYoungPerson {
					return 0
				}
				return 1
			}
			if c = cmp.Compare(first(a), first(b)); c == 0 {
				c = cmp.Compare(when(a), when(b))
			}
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.r.ID, b.r.ID)
	})
	for i := range ps {
		recs[i], ixs[i] = ps[i].r, ps[i].ix
	}
}
