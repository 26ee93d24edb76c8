package sqlite_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// TestDevicesLists: the device list query (with its COALESCE column) works
// and filters.
func TestDevicesLists(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	for _, person := range []string{"w1", "s1"} {
		code, _, err := db.IssueEnrolmentCode(ctx, person, "s1")
		must(t, err)
		_, err = db.Enrol(ctx, code, "sim")
		must(t, err)
	}
	all, err := db.Devices(ctx, domain.DeviceFilter{})
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("devices = %d, want 2", len(all))
	}
	must(t, db.RevokeDevice(ctx, all[0].ID, "s1", "lost"))
	revoked, err := db.Devices(ctx, domain.DeviceFilter{Status: domain.DeviceRevoked})
	must(t, err)
	if len(revoked) != 1 || revoked[0].ID != all[0].ID || revoked[0].RevokedBy != "s1" {
		t.Fatalf("revoked = %+v", revoked)
	}
	mine, err := db.Devices(ctx, domain.DeviceFilter{PersonID: "w1"})
	must(t, err)
	if len(mine) != 1 || mine[0].PersonID != "w1" {
		t.Fatalf("w1's devices = %+v", mine)
	}
}

// TestServerCounterOnlyFromOwnChangesets: a device's changeset committed
// through the server replica's store (the engine applying remote changes)
// must not move the server replica's persisted counter, or a restarted
// server replica would reuse counter values (or jump).
func TestServerCounterOnlyFromOwnChangesets(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	rep, st, err := db.ServerReplica(ctx)
	must(t, err)
	var rec syncengine.RecordID
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) (err error) {
		if rec, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		tx.Set(rec, "team_id", "team_a")
		tx.Set(rec, "area", "park")
		tx.Set(rec, "started_at", time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC))
		return tx.InsertText(rec, "note", 0, "server note")
	})
	must(t, err)
	before, err := db.Meta(ctx, "server_counter")
	must(t, err)

	// A device replica far ahead (and one far behind) edits the same record.
	for _, counter := range []uint64{1_000_000, 0} {
		dev := syncengine.NewMemStore()
		r, err := st.Record(rec)
		must(t, err)
		dev.Put(r)
		id, err := syncengine.NewReplicaID(rand.Reader)
		must(t, err)
		drep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: db.Now, Rand: rand.Reader, Store: dev, Counter: counter})
		must(t, err)
		cs, err := drep.Edit("w1", func(tx *syncengine.Txn) error { return tx.Set(rec, "area", "pier "+strconv.FormatUint(counter, 10)) })
		must(t, err)
		if _, err := rep.Apply(cs); err != nil {
			t.Fatal(err)
		}
		after, err := db.Meta(ctx, "server_counter")
		must(t, err)
		if after != before {
			t.Fatalf("server_counter moved from %s to %s on a device's changeset (counter %d)", before, after, counter)
		}
	}
	got, err := db.RecordState(ctx, string(rec))
	must(t, err)
	if got.String("area") != "pier 0" && got.String("area") != "pier 1000000" {
		t.Fatalf("device changesets not applied: area %q", got.String("area"))
	}
}

// TestBulkPeopleAndCodes: people and codes made in bulk (one transaction
// each) enrol like single ones.
func TestBulkPeopleAndCodes(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	var ps []domain.Person
	var ids []string
	for i := 0; i < 20; i++ {
		id := "bulk" + strconv.Itoa(i)
		ps = append(ps, domain.Person{ID: id, Name: id, Role: domain.RoleWorker, TeamID: "team_b"})
		ids = append(ids, id)
	}
	must(t, db.UpsertPeople(ctx, ps))
	codes, err := db.IssueEnrolmentCodes(ctx, ids, "s1")
	must(t, err)
	for i, code := range codes {
		e, err := db.Enrol(ctx, code, "sim")
		must(t, err)
		if e.PersonID != ids[i] || e.TeamID != "team_b" {
			t.Fatalf("code %d enrolled %+v", i, e)
		}
	}
	if _, err := db.IssueEnrolmentCodes(ctx, []string{"bulk0", "nobody"}, "s1"); err == nil {
		t.Fatal("codes issued for an unknown person")
	}
}
