package sqlite_test

import (
	"context"
	"slices"
	"testing"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// TestAuthenticationSeesEveryChangeAtOnce: a device authenticated a moment
// ago (and so held in the store's authentication cache) is answered from
// the database's latest state after anything about it changes, whoever
// wrote the change: this server, or another process on the same file (the
// admin CLI), or a plain SQL write.
func TestAuthenticationSeesEveryChangeAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, db, other *sqlite.DB, dev string)
		// check the next authentication; err is its error.
		check func(d domain.Device, p domain.Person, err error) string
	}{
		{"revoked here", func(t *testing.T, db, _ *sqlite.DB, dev string) {
			must(t, db.RevokeDevice(ctx, dev, "s1", "lost"))
		}, wantRevoked},
		{"revoked by another process", func(t *testing.T, _, other *sqlite.DB, dev string) {
			must(t, other.RevokeDevice(ctx, dev, "s1", "lost"))
		}, wantRevoked},
		{"revoked by a plain SQL write", func(t *testing.T, db, _ *sqlite.DB, dev string) {
			_, err := db.SQL().Exec(`UPDATE devices SET status = 'revoked' WHERE id = ?`, dev)
			must(t, err)
		}, wantRevoked},
		{"person deactivated", func(t *testing.T, db, _ *sqlite.DB, dev string) {
			_, err := db.DeactivatePerson(ctx, "w1", "admin")
			must(t, err)
		}, wantRevoked},
		{"moved to another team by another process", func(t *testing.T, _, other *sqlite.DB, dev string) {
			must(t, other.UpsertPerson(ctx, domain.Person{ID: "w1", Name: "Worker One", Role: domain.RoleWorker, TeamID: "team_b"}))
		}, func(_ domain.Device, p domain.Person, err error) string {
			if err != nil || p.TeamID != "team_b" {
				return "want team_b"
			}
			return ""
		}},
		{"made a supervisor of two teams", func(t *testing.T, db, _ *sqlite.DB, dev string) {
			must(t, db.UpsertPerson(ctx, domain.Person{ID: "w1", Name: "Worker One", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a", "team_b"}}))
		}, func(_ domain.Device, p domain.Person, err error) string {
			if err != nil || p.Role != domain.RoleSupervisor || !slices.Equal(p.Supervises, []string{"team_a", "team_b"}) {
				return "want a supervisor of team_a and team_b"
			}
			return ""
		}},
		{"no longer supervises a team", func(t *testing.T, db, _ *sqlite.DB, dev string) {
			must(t, db.UpsertPerson(ctx, domain.Person{ID: "s1", Name: "Sup One", Email: "s1@example.org", Role: domain.RoleSupervisor, TeamID: "team_a", Supervises: []string{"team_a"}}))
		}, func(_ domain.Device, p domain.Person, err error) string {
			if err != nil || p.ID != "s1" || !slices.Equal(p.Supervises, []string{"team_a"}) {
				return "want s1 supervising team_a only"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpenDB(t)
			mustOrg(t, db)
			must(t, db.UpsertPerson(ctx, domain.Person{ID: "admin", Name: "Admin", Role: domain.RoleAdmin}))
			holder := "w1"
			if tc.name == "no longer supervises a team" {
				holder = "s1"
			}
			code, _, err := db.IssueEnrolmentCode(ctx, holder, "s1")
			must(t, err)
			e, err := db.Enrol(ctx, code, "android")
			must(t, err)
			other, err := sqlite.Open(db.Path)
			must(t, err)
			defer other.Close()
			// Twice, so the second is answered from the cache.
			for range 2 {
				_, p, err := db.Authenticate(ctx, e.Credential)
				must(t, err)
				if p.PasswordHash != "" || p.TOTPSecret != "" {
					t.Fatalf("a device's person carries sign-in secrets")
				}
			}
			if sqlite.AuthCacheHits(db) == 0 {
				t.Fatalf("the second authentication did not come from the cache")
			}
			tc.change(t, db, other, e.DeviceID)
			d, p, err := db.Authenticate(ctx, e.Credential)
			if msg := tc.check(d, p, err); msg != "" {
				t.Fatalf("after the change: %s; got %+v %+v %v", msg, d, p, err)
			}
		})
	}
}

func wantRevoked(_ domain.Device, _ domain.Person, err error) string {
	if syncengine.ErrorCode(err) != domain.EREVOKED {
		return "want revoked"
	}
	return ""
}

// TestSyncKeepsTheAuthenticationCached: the bookkeeping a sync writes to the
// device's row (last seen, cursor) does not throw the device out of the
// cache, or every request would pay the full read again.
func TestSyncKeepsTheAuthenticationCached(t *testing.T) {
	db := MustOpenDB(t)
	mustOrg(t, db)
	ctx := context.Background()
	ph := groupPhones(t, db, 1)[0]
	code, _, err := db.IssueEnrolmentCode(ctx, "w1", "s1")
	must(t, err)
	e, err := db.Enrol(ctx, code, "android")
	must(t, err)
	d, p, err := db.Authenticate(ctx, e.Credential)
	must(t, err)
	_, err = db.Sync(ctx, domain.SyncRequest{Device: ph.dev, Person: ph.person, Changesets: []*syncengine.Changeset{ph.cs}})
	must(t, err)
	_, err = db.Sync(ctx, domain.SyncRequest{Device: d, Person: p})
	must(t, err)
	hits := sqlite.AuthCacheHits(db)
	if _, _, err := db.Authenticate(ctx, e.Credential); err != nil {
		t.Fatal(err)
	}
	if sqlite.AuthCacheHits(db) != hits+1 {
		t.Fatalf("authentication after two syncs was not answered from the cache")
	}
}
