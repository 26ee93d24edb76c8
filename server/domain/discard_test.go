package domain

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// discardLookup is the server's records as AuthorizeDiscard reads them;
// a sender "w_<team>" is a worker of that team.
type discardLookup map[syncengine.RecordID]*Stored

func (l discardLookup) Stored(id syncengine.RecordID) (*Stored, error) {
	if s, ok := l[id]; ok {
		return s, nil
	}
	return &Stored{}, nil
}
func (discardLookup) Actor(id string) (*Actor, error) {
	if team, ok := strings.CutPrefix(id, "w_"); ok {
		return &Actor{PersonID: id, Role: RoleWorker, Teams: []string{team}}, nil
	}
	return nil, nil
}
func (discardLookup) TeamExists(string) (bool, error)        { return true, nil }
func (discardLookup) WasOnTeam(string, string) (bool, error) { return true, nil }

// A discard is decided where the save's records are filed now: the team a
// record has left may no longer throw the save away; the team holding it,
// the sender's own team, an admin may; a save nobody can read may be
// closed by anyone it is listed to.
func TestAuthorizeDiscard(t *testing.T) {
	id, err := syncengine.NewReplicaID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	store := syncengine.NewMemStore()
	rep, err := syncengine.NewReplica(syncengine.Config{ID: id, Now: time.Now, Rand: rand.Reader, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	var fu, enc syncengine.RecordID
	edit, err := rep.Edit("w_a", func(tx *syncengine.Txn) (err error) {
		if fu, err = tx.Create(syncengine.TypeFollowUp); err != nil {
			return err
		}
		if err := tx.Set(fu, "team_id", "team_a"); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"young_person_id", "yp1"}, {"assignee", "w_a"}, {"due_at", "2026-03-03T19:00:00Z"}, {"status", "open"}} {
			if err := tx.Set(fu, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return tx.InsertText(fu, "note", 0, "Check in.")
	})
	if err != nil {
		t.Fatal(err)
	}
	created, err := rep.Edit("w_a", func(tx *syncengine.Txn) (err error) {
		if enc, err = tx.Create(syncengine.TypeEncounter); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"team_id", "team_b"}, {"area", "Docks"}, {"started_at", "2026-03-02T19:00:00Z"}} {
			if err := tx.Set(enc, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fuRec, _ := store.Record(fu)
	encRec, _ := store.Record(enc)
	sup := func(team string) Actor { return Actor{PersonID: "sup", Role: RoleSupervisor, Teams: []string{team}} }
	// The young person, and so the follow-up, filed under team_a now.
	home := discardLookup{fu: {Rec: fuRec, Team: "team_a", YP: "yp1", Exists: true}, "yp1": {Team: "team_a", Exists: true}}
	for _, tc := range []struct {
		name     string
		l        discardLookup
		reviewer Actor
		sender   string
		cs       *syncengine.Changeset
		after    []*syncengine.Record
		wantErr  bool
	}{
		{"the team holding the record", home, sup("team_a"), "w_team_c", edit, []*syncengine.Record{fuRec}, false},
		{"a sender nobody knows", home, sup("team_b"), "gone", edit, []*syncengine.Record{fuRec}, true},
		{"the team the record left", home, sup("team_b"), "w_team_a", edit, []*syncengine.Record{fuRec}, true},
		{"the team the record left, not placed", home, sup("team_b"), "w_team_a", edit, nil, true},
		{"the sender's team", home, sup("team_c"), "w_team_c", edit, []*syncengine.Record{fuRec}, false},
		{"an admin", home, Actor{PersonID: "adm", Role: RoleAdmin}, "w_team_a", edit, []*syncengine.Record{fuRec}, false},
		{"a worker of the team", home, Actor{PersonID: "w", Role: RoleWorker, Teams: []string{"team_a"}}, "w_team_a", edit, []*syncengine.Record{fuRec}, true},
		{"a record it creates, in the team it names", discardLookup{}, sup("team_b"), "w_team_a", created, []*syncengine.Record{encRec}, false},
		{"a record it creates, elsewhere", discardLookup{}, sup("team_c"), "w_team_a", created, []*syncengine.Record{encRec}, true},
		{"nothing readable", discardLookup{}, sup("team_c"), "w_team_a", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := AuthorizeDiscard(tc.l, tc.reviewer, tc.sender, tc.cs, tc.after)
			if (err != nil) != tc.wantErr {
				t.Fatalf("AuthorizeDiscard: %v, want refused %v", err, tc.wantErr)
			}
			if err != nil && ErrorCode(err) != EFORBIDDEN {
				t.Fatalf("refused with %v, want forbidden", err)
			}
		})
	}
}
