package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/server/notify"
	"github.com/joinedup/joinedup/server/sqlite"
	"github.com/joinedup/joinedup/syncengine"
)

// followUpRules drive a follow-up per encounter from the encounter's area,
// as the referral rules drive the pick-up follow-up from a referral: "open<h>"
// creates it (due h hours from the clock) or reopens it, "close" marks it
// done, "move<h>" moves its due time, "swap" gives it to the other person.
// All but the creation read the follow-up first, as the referral rules read
// the pick-up before closing it. The follow-ups themselves are planned by
// the real notification rules.
func followUpRules(db *sqlite.DB) domain.Rules {
	n := notify.New(notify.DefaultConfig())
	base := db.Now()
	return domain.RulesFunc(func(ctx context.Context, f domain.Facts, c domain.Change) (domain.Intents, error) {
		if c.After.Type != syncengine.TypeEncounter {
			return n.Plan(ctx, f, c)
		}
		fu := syncengine.RecordID("fu" + string(c.After.ID))
		area := c.After.String("area")
		due := func(h string) domain.Field {
			n, _ := strconv.Atoi(h)
			return domain.Field{Name: "due_at", Value: base.Add(time.Duration(n) * time.Hour)}
		}
		if h, ok := strings.CutPrefix(area, "open"); ok {
			rec, err := f.Record(ctx, fu)
			if err != nil || rec == nil {
				e := newFollowUp(fu, "w1")
				e.Set = append(e.Set, due(h))
				return domain.Intents{Edits: []domain.Edit{e}}, err
			}
			return domain.Intents{Edits: []domain.Edit{{Author: "system", Record: fu,
				Set: []domain.Field{{Name: "status", Value: "open"}, due(h)}}}}, nil
		}
		rec, err := f.Record(ctx, fu)
		if err != nil || rec == nil {
			return domain.Intents{}, err
		}
		var set domain.Field
		switch {
		case area == "close":
			if rec.String("status") != "open" {
				return domain.Intents{}, nil
			}
			set = domain.Field{Name: "status", Value: "done"}
		case strings.HasPrefix(area, "move"):
			set = due(strings.TrimPrefix(area, "move"))
		case area == "swap":
			who := "s1"
			if rec.String("assignee") == "s1" {
				who = "w1"
			}
			set = domain.Field{Name: "assignee", Value: who}
		default:
			return domain.Intents{}, nil
		}
		return domain.Intents{Edits: []domain.Edit{{Author: "system", Record: fu, Set: []domain.Field{set}}}}, nil
	})
}

// ruleRun pushes requests (each a list of (encounter, area) steps) from
// one phone into a fresh store with followUpRules, the rules' edits stored
// one by one or a round at a time, and returns the store.
func ruleRun(t *testing.T, oneByOne bool, requests [][][2]string) *sqlite.DB {
	t.Helper()
	db := orgDB(t)
	sqlite.StoreRuleEditsOneByOne(db, oneByOne)
	db.Rules = followUpRules(db)
	p := groupPhones(t, db, 1)[0]
	rep, _ := p.replica(t, db)
	encs := map[string]*syncengine.RecordID{}
	for _, steps := range requests {
		var css []*syncengine.Changeset
		for _, s := range steps {
			if encs[s[0]] == nil {
				encs[s[0]] = new(syncengine.RecordID)
			}
			note := ""
			if *encs[s[0]] == "" {
				note = "met " + s[0]
			}
			css = append(css, setArea(t, db, rep, encs[s[0]], s[1], note))
		}
		p.push(t, db, css)
	}
	return db
}

// autoChangesets counts the changesets of the rules' automation replica.
func autoChangesets(t *testing.T, db *sqlite.DB) int {
	t.Helper()
	var n int
	must(t, db.SQL().QueryRow(`SELECT count(*) FROM changesets WHERE replica_id = (SELECT value FROM meta WHERE key = 'auto_replica')`).Scan(&n))
	return n
}

// encounterNames names each encounter by its note ("met a": a), the one
// thing of it that is the same in every store.
func encounterNames(t *testing.T, db *sqlite.DB) map[string]string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT id FROM records WHERE type = 'encounter'`)
	must(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		must(t, rows.Scan(&id))
		rec, err := db.RecordState(context.Background(), id)
		must(t, err)
		if name, ok := strings.CutPrefix(rec.String("note"), "met "); ok {
			out[id] = name
		}
	}
	must(t, rows.Err())
	return out
}

// outboxRows is the outbox as its senders would see it, one line a row,
// sorted: everything but the ids (made of op ids, so different in every
// store) and the creation time; a follow-up is named by its encounter.
func outboxRows(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	names := encounterNames(t, db)
	rows, err := db.SQL().Query(`SELECT kind, recipient_kind, recipient_id, record_id, urgent, not_before, next_attempt, state FROM push_outbox`)
	must(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, rk, rid, rec, state string
		var urgent bool
		var nb, next int64
		must(t, rows.Scan(&kind, &rk, &rid, &rec, &urgent, &nb, &next, &state))
		if name, ok := names[strings.TrimPrefix(rec, "fu")]; ok {
			rec = "follow-up of " + name
		}
		out = append(out, fmt.Sprint(kind, " ", rk, " ", rid, " ", rec, " ", urgent, " ", nb, " ", next, " ", state))
	}
	must(t, rows.Err())
	slices.Sort(out)
	return out
}

// followUps are the follow-ups' values, each named by its encounter.
func followUps(t *testing.T, db *sqlite.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, name := range encounterNames(t, db) {
		rec, err := db.RecordState(context.Background(), "fu"+id)
		must(t, err)
		if rec != nil {
			out[name] = fmt.Sprint(rec.Values(), rec.Deleted())
		}
	}
	return out
}

// The rules' edits of one round are stored as one changeset of the
// automation replica, not one each; an edit to a record a rule reads, or
// edits again, later in the round is stored before that read, so the rule
// sees it.
func TestRuleEditsOfARoundAreOneChangeset(t *testing.T) {
	tests := []struct {
		name      string
		requests  [][][2]string
		changeset int               // of the automation replica
		status    map[string]string // follow-up of encounter -> status
	}{
		{"three follow-ups created in one request", [][][2]string{{{"a", "open1"}, {"b", "open2"}, {"c", "open3"}}}, 1,
			map[string]string{"a": "open", "b": "open", "c": "open"}},
		{"three follow-ups created in three requests", [][][2]string{{{"a", "open1"}}, {{"b", "open2"}}, {{"c", "open3"}}}, 3,
			map[string]string{"a": "open", "b": "open", "c": "open"}},
		{"created and closed in one request: the close reads the created follow-up", [][][2]string{{{"a", "open1"}, {"b", "open2"}, {"a", "close"}}}, 2,
			map[string]string{"a": "done", "b": "open"}},
		{"closed, then its due time moved in one request", [][][2]string{{{"a", "open1"}}, {{"a", "close"}, {"b", "open1"}, {"a", "move5"}}}, 3,
			map[string]string{"a": "done", "b": "open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := ruleRun(t, false, tt.requests)
			if got := autoChangesets(t, db); got != tt.changeset {
				t.Errorf("automation replica wrote %d changesets, want %d", got, tt.changeset)
			}
			encs := map[string]string{}
			for id, name := range encounterNames(t, db) {
				encs[name] = id
			}
			for enc, want := range tt.status {
				fu, err := db.RecordState(context.Background(), "fu"+encs[enc])
				must(t, err)
				if fu == nil || fu.String("status") != want {
					t.Errorf("follow-up of %s: %v, want status %s", enc, fu, want)
				}
			}
			one := ruleRun(t, true, tt.requests)
			if got, want := outboxRows(t, db), outboxRows(t, one); !slices.Equal(got, want) {
				t.Errorf("outbox\n %s\nwant (edits stored one by one)\n %s", strings.Join(got, "\n "), strings.Join(want, "\n "))
			}
		})
	}
}

// Storing a round's edits together changes nothing anyone can see but the
// number of changesets: for random requests of random steps, the follow-ups
// and the outbox (every notification, its recipient, time and state) are
// those of the same requests with each edit stored at once.
func TestPropertyRuleEditsStoredTogetherAsOneByOne(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	areas := []string{"open1", "open30", "close", "move2", "move48", "swap", "park"}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 17))
			var requests [][][2]string
			for range 2 + r.IntN(5) {
				var steps [][2]string
				for range 1 + r.IntN(6) {
					steps = append(steps, [2]string{string(rune('a' + r.IntN(3))), areas[r.IntN(len(areas))]})
				}
				requests = append(requests, steps)
			}
			together, oneByOne := ruleRun(t, false, requests), ruleRun(t, true, requests)
			if got, want := followUps(t, together), followUps(t, oneByOne); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("requests %v: follow-ups\n %v\nwant\n %v", requests, got, want)
			}
			if got, want := outboxRows(t, together), outboxRows(t, oneByOne); !slices.Equal(got, want) {
				t.Fatalf("requests %v: outbox\n %s\nwant\n %s", requests, strings.Join(got, "\n "), strings.Join(want, "\n "))
			}
			if got, most := autoChangesets(t, together), autoChangesets(t, oneByOne); got > most {
				t.Fatalf("requests %v: %d changesets stored together, %d one by one", requests, got, most)
			}
		})
	}
}
