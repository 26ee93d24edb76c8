package mobilesdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// A new phone's first sync is the field subset: an encounter from twenty
// weeks ago stays on the server until opened, while the young person it
// met arrives. Changes to the old encounter are not lost for the phone (a
// fetch brings them) and, once fetched, it follows the log; a changeset the
// phone pulls never waits for a record it does not hold. In the background
// a phone pages through the rest until it holds what the server holds.
func TestFirstSyncFieldSubsetAndFetch(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 0, "supervisor", 0)
	w1, w2 := s.person(t, 0, "worker", 0), s.person(t, 0, "worker", 1)
	team := w1.TeamID
	a := s.enrolPhone(t, sup, w1)
	tag := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	yp := mustS(t)(a.CreateYoungPerson(`{"known_as":"Kit ` + tag + `"}`))
	old := mustS(t)(a.CreateEncounter(fmt.Sprintf(`{"area":"Bus station","note":"Back then (%s).","young_people":[%q],"started_at":%q,"ended_at":%q}`,
		tag, yp, time.Now().Add(-20*7*24*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(-20*7*24*time.Hour+time.Hour).UTC().Format(time.RFC3339))))
	syncOK(t, a)

	b := s.enrolPhone(t, sup, w2)
	if _, err := b.Get(old); ErrorCode(err) != syncengine.ENOTFOUND {
		t.Fatalf("the first sync carried a twenty-week-old encounter (%v)", err)
	}
	if _, err := b.Get(yp); err != nil {
		t.Fatalf("the first sync lacks the team's young person: %v", err)
	}
	p, err := b.SyncProgress()
	must(t, err)
	if !p.Partial || p.Fraction != 1 || p.Done != p.Total {
		t.Errorf("after the first sync: %+v, want partial at fraction 1", p)
	}
	var svcs []map[string]any
	must(t, json.Unmarshal([]byte(mustS(t)(b.Services())), &svcs))
	if len(svcs) == 0 || svcs[0]["name"] == "" || svcs[0]["kind"] == "" {
		t.Errorf("service directory on the phone: %v", svcs)
	}

	// One save on both the old encounter and the young person.
	must(t, a.edit(func(tx *syncengine.Txn, _ string) error {
		if err := tx.InsertText(syncengine.RecordID(old), "note", 0, "Looked back: "); err != nil {
			return err
		}
		return tx.Set(syncengine.RecordID(yp), "area", "Northgate estate")
	}))
	syncOK(t, a)
	syncOK(t, b)
	server := s.serverRecords(t, team)
	if !bytes.Equal(phoneRecords(t, b)[yp], server[yp]) {
		t.Error("the young person's change did not reach the partial phone")
	}
	if st := status(t, b); st.HeldChangesets != 0 {
		t.Errorf("%d changesets wait on the partial phone for a record it does not hold", st.HeldChangesets)
	}

	must(t, b.FetchRecord(old))
	if got := phoneRecords(t, b)[old]; !bytes.Equal(got, server[old]) {
		t.Fatal("the fetched encounter differs from the server's")
	}
	must(t, a.InsertText(old, "note", 0, "Again: "))
	syncOK(t, a)
	syncOK(t, b)
	if got := phoneRecords(t, b)[old]; !bytes.Equal(got, s.serverRecords(t, team)[old]) {
		t.Fatal("a fetched record did not follow the log")
	}
	must(t, b.FetchYoungPerson(yp))

	// In the background: every older record, progress to 1.
	c := s.enrolPhone(t, sup, w2)
	for i := 0; ; i++ {
		more, err := c.FetchOlder()
		must(t, err)
		if !more {
			break
		}
		if i > 1000 {
			t.Fatal("FetchOlder never ended")
		}
	}
	p, err = c.SyncProgress()
	must(t, err)
	if p.Phase != "older" || p.Fraction != 1 || !p.OlderDone {
		t.Errorf("after FetchOlder: %+v", p)
	}
	if more, err := c.FetchOlder(); more || err != nil {
		t.Errorf("FetchOlder after the end: %v %v", more, err)
	}
	sameRecords(t, "phone after FetchOlder vs server", phoneRecords(t, c), s.serverRecords(t, team))

	// Another team's phone: refused, as if neither existed.
	other := s.enrolPhone(t, s.person(t, 1, "supervisor", 0), s.person(t, 1, "worker", 0))
	if err := other.FetchRecord(old); ErrorCode(err) != syncengine.ENOTFOUND {
		t.Errorf("another team's fetch of an encounter: %v, want not_found", err)
	}
	if err := other.FetchYoungPerson(yp); ErrorCode(err) != syncengine.ENOTFOUND {
		t.Errorf("another team's fetch of a young person's history: %v, want not_found", err)
	}
	if err := other.FetchRecord("no_such_record"); ErrorCode(err) != syncengine.ENOTFOUND {
		t.Errorf("fetch of a missing record: %v, want not_found", err)
	}
}

// A phone that asks for the whole history (SetFieldWeeks(0), as phones did
// before the subset) receives it, and is not partial.
func TestFirstSyncWholeWhenAsked(t *testing.T) {
	s := startServer(t)
	sup := s.person(t, 0, "supervisor", 0)
	w := s.person(t, 0, "worker", 0)
	c, err := open(t.TempDir(), testKey, "sim", options{})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetFieldWeeks(0)
	if _, err := c.Enrol(s.url, s.code(t, sup, w)); err != nil {
		t.Fatal(err)
	}
	var events progressEvents
	c.SetProgressListener(&events)
	c.SetPageBytes(minPageBytes) // several pages
	syncOK(t, c)
	last := -1.0
	applied := 0
	for _, ev := range events {
		var m map[string]any
		must(t, json.Unmarshal([]byte(ev), &m))
		if m["phase"] != "applied" {
			continue
		}
		applied++
		f, _ := m["fraction"].(float64)
		if f < last {
			t.Errorf("progress went back: %v after %v", f, last)
		}
		last = f
	}
	if applied < 2 || last != 1 {
		t.Errorf("%d pages applied, progress ended at %v; want several pages ending at 1", applied, last)
	}
	sameRecords(t, "whole first sync vs server", phoneRecords(t, c), s.serverRecords(t, w.TeamID))
	p, err := c.SyncProgress()
	must(t, err)
	if p.Partial || p.Fraction != 1 {
		t.Errorf("whole first sync: %+v", p)
	}
	if more, err := c.FetchOlder(); more || err != nil {
		t.Errorf("FetchOlder on a whole phone: %v %v", more, err)
	}
}

type progressEvents []string

func (p *progressEvents) OnSyncProgress(j string) { *p = append(*p, j) }
