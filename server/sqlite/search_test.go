package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// TestFTS5CompiledIn fails on a build without the sqlite_fts5 tag: search
// must never quietly become something else. (Open refuses such a build too.)
func TestFTS5CompiledIn(t *testing.T) {
	raw, err := sql.Open("sqlite3", ":memory:")
	must(t, err)
	defer raw.Close()
	var on bool
	must(t, raw.QueryRow(`SELECT sqlite_compileoption_used('ENABLE_FTS5')`).Scan(&on))
	if !on {
		t.Fatal("go-sqlite3 was built without FTS5: build and test with -tags sqlite_fts5 (GOFLAGS in the Makefile, .ci/run, Dockerfile)")
	}
	if _, err := raw.Exec(`CREATE VIRTUAL TABLE probe USING fts5 (body)`); err != nil {
		t.Fatalf("create an FTS5 table: %v", err)
	}
}

// TestErasureLeavesNoWordInSearchIndex: once a young person is erased and
// their name redacted from an encounter, no search finds them, the index's
// vocabulary no longer holds the name, and neither does the file.
func TestErasureLeavesNoWordInSearchIndex(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
	db := clockDB(t, &now)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	var yp, enc syncengine.RecordID
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) (err error) {
		yp, enc = youngPersonMet(t, tx, "Zephyrine", now.Add(-time.Hour))
		return tx.InsertText(enc, "note", 0, "Zephyrine talked about the skate park")
	})
	must(t, err)
	find := func(text string) int {
		t.Helper()
		_, n, err := db.Search(ctx, domain.SearchQuery{All: true, Text: text})
		must(t, err)
		return n
	}
	if n := find("zephyrine"); n != 2 {
		t.Fatalf("before erasure: %d hits, want the profile and the encounter", n)
	}
	// The lists' decoded copies (recordcache.go) are warm before the erasure.
	listed := func() map[syncengine.RecordID]*syncengine.Record {
		rs, err := db.Records(ctx, domain.RecordFilter{TeamIDs: []string{"team_a"}})
		must(t, err)
		m := map[syncengine.RecordID]*syncengine.Record{}
		for _, r := range rs {
			m[r.ID] = r
		}
		return m
	}
	if l := listed(); l[enc].String("note") != "Zephyrine talked about the skate park" {
		t.Fatalf("listed note before erasure: %q", l[enc].String("note"))
	}
	_, err = db.Erase(ctx, domain.ErasureRequest{By: "s1", YoungPersonID: string(yp), Reason: "request 12", Erase: []string{string(yp)},
		Redact: []domain.Redaction{{EncounterID: string(enc), Unlink: string(yp), Words: []string{"Zephyrine"}}}})
	must(t, err)
	if n := find("zephyrine"); n != 0 {
		t.Errorf("after erasure: %d hits for the erased name", n)
	}
	if n := find("skate"); n != 1 {
		t.Errorf("the redacted encounter's other words: %d hits, want 1", n)
	}
	l := listed()
	if note := l[enc].String("note"); strings.Contains(note, "Zephyrine") {
		t.Errorf("the lists still show the erased name: %q", note)
	}
	if l[yp] == nil || l[yp].Erased == nil {
		t.Error("the lists do not show the profile erased")
	}

	raw, err := sql.Open("sqlite3", "file:"+db.Path+"?mode=ro")
	must(t, err)
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, record_search, row)`)
	must(t, err)
	var terms int
	must(t, conn.QueryRowContext(ctx, `SELECT count(*) FROM temp.vocab WHERE term = 'zephyrine'`).Scan(&terms))
	if terms != 0 {
		t.Errorf("the index's vocabulary still holds the erased name (%d rows)", terms)
	}
	must(t, conn.Close())
	must(t, raw.Close())
	must(t, db.Close())
	fileMustNotHold(t, db.Path, "Zephyrine")
}

// TestSearchBackfillsRecordsStoredBefore: a database from before the index
// (its records stored, the index empty) is indexed at the next Open.
func TestSearchBackfillsRecordsStoredBefore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := sqlite.NewDB(path)
	must(t, db.Open())
	mustOrg(t, db)
	rep, _, err := db.ServerReplica(ctx)
	must(t, err)
	_, err = rep.Edit("s1", func(tx *syncengine.Txn) error {
		id, err := tx.Create(syncengine.TypeYoungPerson)
		must(t, err)
		must(t, tx.Set(id, "team_id", "team_a"))
		return tx.Set(id, "known_as", "Oluwaseun")
	})
	must(t, err)
	must(t, db.Close())
	// As the database was before migration 0130 ran: nothing indexed.
	raw, err := sql.Open("sqlite3", path)
	must(t, err)
	for _, q := range []string{`DELETE FROM record_search`, `DELETE FROM search_rows`, `INSERT INTO search_backfill (pending) VALUES (1)`} {
		_, err := raw.Exec(q)
		must(t, err)
	}
	must(t, raw.Close())
	db = sqlite.NewDB(path)
	must(t, db.Open())
	defer db.Close()
	if _, n, err := db.Search(ctx, domain.SearchQuery{All: true, Text: "oluwa"}); err != nil || n != 1 {
		t.Fatalf("after reopening: %d hits (%v), want 1", n, err)
	}
}

// TestSearchIndexesARecordsLastStateInASync: a sync whose changesets edit
// one record several times leaves the index holding its last text only
// (the index is written once per record, at the end of the sync).
func TestSearchIndexesARecordsLastStateInASync(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	mustOrg(t, db)
	p := groupPhones(t, db, 1)[0]
	// The phone's own changeset is not sent: a replica of its id writes
	// the edits below.
	rep, _ := p.replica(t, db)
	var enc syncengine.RecordID
	css := []*syncengine.Changeset{}
	cs, err := rep.Edit("gw0", func(tx *syncengine.Txn) (err error) {
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for k, v := range map[string]any{"team_id": "team_a", "area": "park", "started_at": db.Now().Add(-time.Hour)} {
			must(t, tx.Set(enc, k, v))
		}
		return tx.InsertText(enc, "note", 0, "alpha")
	})
	must(t, err)
	css = append(css, cs)
	for _, word := range []string{"bravo", "charlie"} {
		cs, err := rep.Edit("gw0", func(tx *syncengine.Txn) error {
			if err := tx.DeleteText(enc, "note", 0, 5); err != nil { // the previous word
				return err
			}
			return tx.InsertText(enc, "note", 0, word)
		})
		must(t, err)
		css = append(css, cs)
	}
	p.push(t, db, css)
	for word, want := range map[string]int{"alpha": 0, "bravo": 0, "charlie": 1} {
		if _, n, err := db.Search(ctx, domain.SearchQuery{All: true, Text: word}); err != nil || n != want {
			t.Errorf("search %q: %d hits (%v), want %d", word, n, err, want)
		}
	}
}

// TestErasureScrubsOldIndexEntries: the index keeps a changed record's old
// words until its segments merge (no FTS5 secure-delete, migration 0180),
// so a name that was indexed in many versions, across many transactions
// and segments, must still be gone from the file's bytes once erased or
// redacted. It fails if the erasure's transaction stops cleaning the index
// (flushSearch's optimize).
func TestErasureScrubsOldIndexEntries(t *testing.T) {
	// No two words of the index share a first letter with these: FTS5
	// stores a term after its neighbour's common prefix, and a shared
	// prefix would hide the whole word from a search of the bytes.
	names := []string{"Jorvekkan", "Xylophania", "Zephyrine"}
	tests := []struct {
		name  string
		erase func(yp, enc syncengine.RecordID) domain.ErasureRequest
		gone  []string // words no byte of the file may hold afterwards
		found string   // a word of the redacted encounter that must still be found
	}{
		{"erase the profile, redact the note", func(yp, enc syncengine.RecordID) domain.ErasureRequest {
			return domain.ErasureRequest{By: "s1", YoungPersonID: string(yp), Reason: "request 12", Erase: []string{string(yp)},
				Redact: []domain.Redaction{{EncounterID: string(enc), Unlink: string(yp), Words: names}}}
		}, names, "skatepark"},
		{"erase profile and note", func(yp, enc syncengine.RecordID) domain.ErasureRequest {
			return domain.ErasureRequest{By: "s1", YoungPersonID: string(yp), Reason: "request 12", Erase: []string{string(yp), string(enc)}}
		}, append(slices.Clone(names), "skatepark"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2025, 3, 1, 19, 0, 0, 0, time.UTC)
			db := clockDB(t, &now)
			rep, _, err := db.ServerReplica(ctx)
			must(t, err)
			edit := func(fn func(tx *syncengine.Txn) error) {
				t.Helper()
				_, err := rep.Edit("s1", fn)
				must(t, err)
			}
			var yp, enc syncengine.RecordID
			edit(func(tx *syncengine.Txn) error {
				yp, enc = youngPersonMet(t, tx, "Placeholder", now.Add(-time.Hour))
				return nil
			})
			// Each version of the name indexed, then replaced, with other
			// records' transactions in between so they land in other segments.
			for i, n := range names {
				edit(func(tx *syncengine.Txn) error {
					must(t, tx.Set(yp, "known_as", n))
					note := n + " talked about the skatepark"
					r, err := tx.Record(enc)
					must(t, err)
					if cur := r.String("note"); cur != "" {
						must(t, tx.DeleteText(enc, "note", 0, len([]rune(cur))))
					}
					return tx.InsertText(enc, "note", 0, note)
				})
				for j := 0; j < 40; j++ {
					edit(func(tx *syncengine.Txn) error {
						id, err := tx.Create(syncengine.TypeYoungPerson)
						if err != nil {
							return err
						}
						must(t, tx.Set(id, "team_id", "team_a"))
						return tx.Set(id, "known_as", fmt.Sprintf("Other%d%d", i, j))
					})
				}
			}
			_, err = db.Erase(ctx, tt.erase(yp, enc))
			must(t, err)
			for _, w := range tt.gone {
				if _, n, err := db.Search(ctx, domain.SearchQuery{All: true, Text: w}); err != nil || n != 0 {
					t.Errorf("search %q after erasure: %d hits, %v", w, n, err)
				}
			}
			if tt.found != "" {
				if _, n, err := db.Search(ctx, domain.SearchQuery{All: true, Text: tt.found}); err != nil || n != 1 {
					t.Errorf("search %q (kept) after erasure: %d hits, %v", tt.found, n, err)
				}
			}
			must(t, db.Close())
			fileMustNotHold(t, db.Path, tt.gone...)
		})
	}
}

// youngPersonMet creates, in tx, a young person of team_a known as name
// and an encounter with them started at started.
func youngPersonMet(tb testing.TB, tx *syncengine.Txn, name string, started time.Time) (yp, enc syncengine.RecordID) {
	tb.Helper()
	yp, err := tx.Create(syncengine.TypeYoungPerson)
	must(tb, err)
	must(tb, tx.Set(yp, "team_id", "team_a"))
	must(tb, tx.Set(yp, "known_as", name))
	enc, err = tx.Create(syncengine.TypeEncounter)
	must(tb, err)
	for k, v := range map[string]any{"team_id": "team_a", "area": "the park", "started_at": started} {
		must(tb, tx.Set(enc, k, v))
	}
	must(tb, tx.Add(enc, "young_people", string(yp)))
	return yp, enc
}

// fileMustNotHold fails if the database file at path or its WAL holds any
// of words (in any case).
func fileMustNotHold(tb testing.TB, path string, words ...string) {
	tb.Helper()
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		must(tb, err)
		for _, w := range words {
			if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(w))) {
				tb.Errorf("%s still holds the erased word %q", filepath.Base(p), w)
			}
		}
	}
}
