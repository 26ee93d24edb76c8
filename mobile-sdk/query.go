package mobilesdk

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// Reads return records as the JSON of syncengine.View: {id, type, deleted,
// created, updated, values, conflicts, authors}. Lists are JSON arrays.

// Get returns one record's view, or an error with code not_found.
func (c *Client) Get(id string) (string, error) {
	r, err := c.record("get", id)
	if err != nil {
		return "", err
	}
	return mustJSON(r.View(nil)), nil
}

// record loads one record for a read, or fails with code not_found.
func (c *Client) record(op, id string) (*syncengine.Record, error) {
	st, _, err := c.state(false)
	if err != nil {
		return nil, err
	}
	r, err := st.Record(syncengine.RecordID(id))
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errorf(syncengine.ENOTFOUND, op, "record %s not found", id)
	}
	return r, nil
}

// Conflicts returns a record's fields in conflict: a JSON array of
// {field, values: [{id, value, author, at}]}, the value shown first. Resolve
// one by writing a new value with Resolve.
func (c *Client) Conflicts(id string) (string, error) {
	r, err := c.record("conflicts", id)
	if err != nil {
		return "", err
	}
	v := r.View(nil)
	if v.Conflicts == nil {
		v.Conflicts = []syncengine.ConflictView{}
	}
	return mustJSON(v.Conflicts), nil
}

func (c *Client) find(q localstore.Query) ([]*syncengine.Record, error) {
	st, _, err := c.state(false)
	if err != nil {
		return nil, err
	}
	return st.Find(q)
}

func (c *Client) list(q localstore.Query) (string, error) {
	recs, err := c.find(q)
	if err != nil {
		return "", err
	}
	return views(recs)
}

func views(recs []*syncengine.Record) (string, error) {
	out := make([]syncengine.View, len(recs))
	for i, r := range recs {
		out[i] = r.View(nil)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// List returns every live record of a type, most recently changed first.
// Young people merged into another profile (syncengine.MergedInto) are left
// out: the kept profile stands for them, and its Chronology holds theirs.
func (c *Client) List(typ string) (string, error) {
	recs, err := c.find(localstore.Query{Type: typ, Live: true, Order: localstore.ByUpdatedDesc})
	if err != nil {
		return "", err
	}
	return views(slices.DeleteFunc(recs, func(r *syncengine.Record) bool { return syncengine.MergedInto(r) != "" }))
}

// TodaysEncounters returns the encounters that started today (the device's
// local day, from midnight), earliest first.
func (c *Client) TodaysEncounters() (string, error) {
	now := c.clock()
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	return c.EncountersBetween(from.UnixMilli(), from.AddDate(0, 0, 1).UnixMilli())
}

// EncountersBetween returns encounters started in [fromMs, toMs) (unix ms).
func (c *Client) EncountersBetween(fromMs, toMs int64) (string, error) {
	return c.list(localstore.Query{Type: syncengine.TypeEncounter, Live: true, StartedFrom: fromMs, StartedTo: toMs, Order: localstore.ByStarted})
}

// MyFollowUps returns this worker's open follow-ups due before dueBeforeMs
// (unix ms; 0 means all), soonest (and overdue) first.
func (c *Client) MyFollowUps(dueBeforeMs int64) (string, error) {
	if dueBeforeMs <= 0 {
		dueBeforeMs = 1<<62 - 1
	}
	me := c.PersonID()
	if me == "" {
		return "[]", nil
	}
	return c.list(localstore.Query{Type: syncengine.TypeFollowUp, Live: true, Status: "open", Assignee: me, DueBefore: dueBeforeMs, Order: localstore.ByDue})
}

// Chronology returns everything about one young person (their profile,
// encounters, referrals, follow-ups), oldest first. After a supervisor's
// merge it is the kept profile's: asked for a merged profile, it answers
// for the profile it was finally merged into (A into B, then B into C: C),
// and it holds the records of every profile merged into that one, since a
// phone offline during the merge may have written about the merged profile
// after the server moved its records. Merged profiles themselves are left
// out; the kept one comes first.
func (c *Client) Chronology(youngPersonID string) (string, error) {
	if youngPersonID == "" {
		return "[]", nil
	}
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	profiles, err := st.Find(localstore.Query{Type: syncengine.TypeYoungPerson, Live: true, Order: localstore.ByID})
	if err != nil {
		return "", err
	}
	kept, group := mergeGroup(profiles, youngPersonID)
	q := localstore.Query{Live: true, Order: localstore.ByChronology}
	var recs []*syncengine.Record
	seen := map[syncengine.RecordID]bool{}
	for _, id := range group {
		q.YoungPerson = id
		found, err := st.Find(q)
		if err != nil {
			return "", err
		}
		for _, r := range found {
			if seen[r.ID] || r.Type == syncengine.TypeYoungPerson && string(r.ID) != kept {
				continue
			}
			seen[r.ID] = true
			recs = append(recs, r)
		}
	}
	if len(group) > 1 {
		noTeam := func(syncengine.RecordID) string { return "" }
		ixs := make([]localstore.Index, len(recs))
		for i, r := range recs {
			ixs[i] = localstore.IndexOf(r, noTeam)
		}
		q.Sort(recs, ixs)
	}
	return views(recs)
}

// mergeGroup follows id's chain of merges among profiles to the kept
// profile, and lists it with every profile merged into it, directly or
// through a chain. A chain that loops or leaves what the phone holds stops
// at the last profile seen.
func mergeGroup(profiles []*syncengine.Record, id string) (kept string, group []string) {
	held := map[string]bool{}
	for _, r := range profiles {
		held[string(r.ID)] = true
	}
	next := map[string]string{}
	for _, r := range profiles {
		if to := syncengine.MergedInto(r); held[to] {
			next[string(r.ID)] = to
		}
	}
	kept = id
	for seen := map[string]bool{id: true}; next[kept] != "" && !seen[next[kept]]; {
		kept = next[kept]
		seen[kept] = true
	}
	group = append([]string{kept}, syncengine.MergedFrom(profiles, kept)...)
	return kept, group
}

// RecordCount is how many records the phone holds (deleted ones included).
func (c *Client) RecordCount() (int64, error) {
	st, _, err := c.state(false)
	if err != nil {
		return 0, err
	}
	n, err := st.Counts()
	return n.Records, err
}
