package sqlite_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// pagingWriter is a worker's phone that writes encounters into its team.
type pagingWriter struct {
	db     *sqlite.DB
	person string
	team   string
	rep    *syncengine.Replica
	store  *syncengine.MemStore
	dev    domain.Device
	now    time.Time
}

func newPagingWriter(t *testing.T, db *sqlite.DB, person, team string) *pagingWriter {
	t.Helper()
	e := enrol(t, db, person)
	id, err := syncengine.ParseReplicaID(e.ReplicaID)
	must(t, err)
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	store := syncengine.NewMemStore()
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: func() time.Time { return now }, Rand: rand.Reader, Store: store})
	must(t, err)
	dev, err := db.Device(context.Background(), e.DeviceID)
	must(t, err)
	return &pagingWriter{db: db, person: person, team: team, rep: rep, store: store, dev: dev, now: now}
}

func (w *pagingWriter) push(t *testing.T, fn func(tx *syncengine.Txn) error) {
	t.Helper()
	cs, err := w.rep.Edit(w.person, fn)
	must(t, err)
	p, err := w.db.Person(context.Background(), w.person)
	must(t, err)
	res, err := w.db.Sync(context.Background(), domain.SyncRequest{Device: w.dev, Person: p, Changesets: []*syncengine.Changeset{cs}, NoPull: true})
	must(t, err)
	if res.Results[0].Status != protocol.StatusAccepted {
		t.Fatalf("push: %+v", res.Results[0])
	}
}

func (w *pagingWriter) encounter(t *testing.T, note string) syncengine.RecordID {
	t.Helper()
	var id syncengine.RecordID
	w.push(t, func(tx *syncengine.Txn) (err error) {
		if id, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": w.team, "area": "park", "started_at": w.now.Add(-time.Hour)} {
			if err := tx.Set(id, k, v); err != nil {
				return err
			}
		}
		return tx.InsertText(id, "note", 0, note)
	})
	return id
}

// A supervisor's fresh device pages through two teams' records (read as
// one id-ordered range per team, merged): every record arrives, in id order
// within each page, none twice except those changed after their page was
// sent, and those arrive in their latest state; records created meanwhile
// arrive too (by the pages or by the changesets after).
func TestSnapshotPagingAcrossTeamsWithChurn(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	must(t, db.UpsertPerson(ctx, domain.Person{ID: "w2", Name: "Worker Two", Role: domain.RoleWorker, TeamID: "team_b"}))
	writers := []*pagingWriter{newPagingWriter(t, db, "w1", "team_a"), newPagingWriter(t, db, "w2", "team_b")}
	want := map[syncengine.RecordID]string{}
	for i := 0; i < 30; i++ {
		for _, w := range writers {
			note := fmt.Sprintf("%s note %d %s", w.team, i, strings.Repeat("x", 150))
			want[w.encounter(t, note)] = note
		}
	}
	sup := enrol(t, db, "s1")
	dev, err := db.Device(ctx, sup.DeviceID)
	must(t, err)
	person, err := db.Person(ctx, "s1")
	must(t, err)
	got := map[syncengine.RecordID]*syncengine.Record{}
	sent := map[string]int{}
	cursor, pages := "", 0
	var churned syncengine.RecordID
	for {
		res, err := db.Sync(ctx, domain.SyncRequest{Device: dev, Person: person, Cursor: cursor, PageBytes: 1024})
		must(t, err)
		pages++
		if pages > 200 {
			t.Fatal("paging does not end")
		}
		if !slices.IsSorted(res.SentRecords) && len(res.Changesets) == 0 {
			t.Errorf("page %d not in id order: %v", pages, res.SentRecords)
		}
		for _, b := range res.Snapshots {
			recs, err := syncengine.DecodeSnapshot(b)
			must(t, err)
			for _, r := range recs {
				got[r.ID] = r
			}
		}
		for _, id := range res.SentRecords {
			sent[id]++
		}
		cursor = res.Cursor
		if pages == 2 {
			// Change a record already sent and add one to each team.
			churned = syncengine.RecordID(res.SentRecords[0])
			for _, w := range writers {
				if r, _ := w.store.Record(churned); r != nil {
					w.push(t, func(tx *syncengine.Txn) error { return tx.InsertText(churned, "note", 0, "changed: ") })
					want[churned] = "changed: " + want[churned]
				}
				note := w.team + " late note"
				want[w.encounter(t, note)] = note
			}
		}
		if !res.More {
			break
		}
	}
	if pages < 5 {
		t.Fatalf("%d pages: the budget did not page", pages)
	}
	if churned == "" || sent[string(churned)] != 2 {
		t.Errorf("changed record %s sent %d times, want 2 (once, then again changed)", churned, sent[string(churned)])
	}
	for id, n := range sent {
		if n > 1 && syncengine.RecordID(id) != churned {
			t.Errorf("record %s sent %d times", id, n)
		}
	}
	for id, note := range want {
		r, ok := got[id]
		if !ok {
			// Created after the snapshot's range passed it: it comes with the
			// next incremental pull.
			continue
		}
		if s := r.String("note"); s != note {
			t.Errorf("record %s: note %q, want %q", id, s, note)
		}
	}
	if len(got) < 60 {
		t.Errorf("got %d of the 60 records that existed before the first page", len(got))
	}
	// Whatever the pages missed arrives with the next pull.
	res, err := db.Sync(ctx, domain.SyncRequest{Device: dev, Person: person, Cursor: cursor})
	must(t, err)
	for _, id := range res.SentRecords {
		sent[id]++
	}
	for id := range want {
		if sent[string(id)] == 0 {
			t.Errorf("record %s never sent", id)
		}
	}
}
