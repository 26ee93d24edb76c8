package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// TestDeviceRowWrittenWhenItMatters: a sync writes the device's
// bookkeeping (last seen, last sync, the cursor it sent, its pending count)
// when the count changed or the row is 30 s old or more, not on every sync;
// compaction, which needs the cursors exact, first writes what the syncs
// left out; and a sync that failed never counts as having written the row.
func TestDeviceRowWrittenWhenItMatters(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	now := t0
	db.Now = func() time.Time { return now }
	phones := groupPhones(t, db, 8)
	p, others := phones[0], phones[1:]
	injected := errors.New("injected fault")
	cursor := ""
	// Before each step another phone pushes, so the log is at position
	// step+1 and each sync sends a newer cursor than the last.
	for i, step := range []struct {
		name    string
		after   time.Duration
		pending int64
		faulty  bool
		compact bool
		// the row after the step: never written (wantAt < 0), or written
		// at t0+wantAt with the cursor position and pending count
		wantAt      time.Duration
		wantCursor  int64
		wantPending int64
	}{
		{"a first sync that fails writes nothing", 0, 0, true, false, -1, 0, 0},
		{"the next sync, at the same instant, writes the row", 0, 0, false, false, 0, 0, 0},
		{"10 s later, nothing changed: not written", 10 * time.Second, 0, false, false, 0, 0, 0},
		{"pending changed: written", 20 * time.Second, 3, false, false, 20 * time.Second, 3, 3},
		{"29 s after that: not written", 49 * time.Second, 3, false, false, 20 * time.Second, 3, 3},
		{"compaction first writes what that sync left out", 49 * time.Second, 0, false, true, 49 * time.Second, 4, 3},
		{"30 s after the last sync that wrote: written", 50 * time.Second, 3, false, false, 50 * time.Second, 5, 3},
	} {
		now = t0.Add(step.after)
		others[i].push(t, db, []*syncengine.Changeset{others[i].cs})
		if step.compact {
			if _, err := db.CompactLog(ctx, 24*time.Hour); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		} else {
			sqlite.SetSyncFault(db, false, func(domain.SyncRequest) error {
				if step.faulty {
					return injected
				}
				return nil
			})
			res, err := db.Sync(ctx, domain.SyncRequest{Device: p.dev, Person: p.person, Cursor: cursor, Pending: step.pending})
			sqlite.SetSyncFault(db, false, nil)
			if step.faulty != errors.Is(err, injected) || !step.faulty && err != nil {
				t.Fatalf("%s: sync err %v", step.name, err)
			}
			if err == nil {
				cursor = res.Cursor
			}
		}
		var at *string
		var cur, pending int64
		must(t, db.SQL().QueryRow(`SELECT last_sync_at, last_cursor, pending_reported FROM devices WHERE id = ?`, p.dev.ID).Scan(&at, &cur, &pending))
		if step.wantAt < 0 {
			if at != nil {
				t.Fatalf("%s: row written at %s", step.name, *at)
			}
			continue
		}
		want := t0.Add(step.wantAt)
		if at == nil {
			t.Fatalf("%s: row never written, want it at %s", step.name, want)
		}
		got, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil || !got.Equal(want) || cur != step.wantCursor || pending != step.wantPending {
			t.Fatalf("%s: row at %s, cursor %d, pending %d; want %s, %d, %d", step.name, *at, cur, pending, want, step.wantCursor, step.wantPending)
		}
	}
}
