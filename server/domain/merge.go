package domain

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/joinedup/joinedup/syncengine"
)

// Two workers who meet the same young person may each create a profile.
// LikelyDuplicates flags such pairs; Merge folds one profile (the loser) into
// the other (the winner) as an ordinary server-authored edit, so phones
// converge through sync like after any other change.

// MergedInto is the profile a young person was merged into ("" if none).
func MergedInto(r *syncengine.Record) string { return syncengine.MergedInto(r) }

// LikelyDuplicates reports whether two young people's profiles probably
// describe the same person (syncengine.LikelyDuplicates: the phones flag
// them on save with the same rule).
func LikelyDuplicates(a, b *syncengine.Record) bool { return syncengine.LikelyDuplicates(a, b) }

// DuplicatePairs lists the likely duplicate pairs among young people
// (syncengine.DuplicatePairs).
func DuplicatePairs(yps []*syncengine.Record) [][2]*syncengine.Record {
	return syncengine.DuplicatePairs(yps)
}

// MergeRequest is a supervisor's decision that two profiles are one person.
type MergeRequest struct {
	Winner, Loser *syncengine.Record
	// About are the loser's records: encounters naming them, referrals and
	// follow-ups about them. Each is moved to the winner.
	About  []*syncengine.Record
	Reason string
	By     string // the supervisor's name, written into the merge note
	At     string // when, as the note shows it
}

// mergeFields are the young person's registers the winner takes from the
// loser when it has none of its own.
var mergeFields = []string{"known_as", "age_band", "gender", "area", "key_worker"}

// wantsMax is the schema's limit on a young person's "wants" text.
const wantsMax = 4000

// CheckMerge is what makes a merge possible, before any authorisation.
func CheckMerge(m MergeRequest) error {
	switch {
	case m.Winner == nil || m.Loser == nil || m.Winner.Type != syncengine.TypeYoungPerson || m.Loser.Type != syncengine.TypeYoungPerson:
		return Errorf(EINVALID, "merge", "only two young people's profiles can be merged")
	case m.Winner.ID == m.Loser.ID:
		return Errorf(EINVALID, "merge", "a profile cannot be merged into itself")
	case m.Winner.Erased != nil || m.Loser.Erased != nil || m.Winner.Deleted() || m.Loser.Deleted():
		return Errorf(ECONFLICT, "merge", "an erased or deleted profile cannot be merged")
	case MergedInto(m.Winner) != "" || MergedInto(m.Loser) != "":
		return Errorf(ECONFLICT, "merge", "one of these profiles has already been merged")
	case m.Winner.String("team_id") != m.Loser.String("team_id"):
		return Errorf(EINVALID, "merge", "both profiles must belong to the same team: transfer one first")
	case len(strings.TrimSpace(m.Reason)) < 5 || len(m.Reason) > 1000:
		return Errorf(EINVALID, "merge", "give a reason for the merge (5 to 1000 characters)")
	}
	return nil
}

// Merge writes the merge into tx: the winner keeps its own fields and takes
// the loser's where it has none; whatever of the loser's would otherwise be
// lost (different values, what they want) is added to the winner's "what
// they want" text with the reason; a safeguarding hold on either stays;
// every record about the loser now names the winner; the loser is marked
// merged, never deleted, so its own history stays readable.
func Merge(tx *syncengine.Txn, m MergeRequest) error {
	if err := CheckMerge(m); err != nil {
		return err
	}
	w, l := m.Winner, m.Loser
	var kept []string
	for _, f := range mergeFields {
		lv, wv := l.String(f), w.String(f)
		switch {
		case lv == "" || lv == wv:
		case wv == "":
			if err := tx.Set(w.ID, f, lv); err != nil {
				return err
			}
		default:
			kept = append(kept, fmt.Sprintf("%s: %s", strings.ReplaceAll(f, "_", " "), lv))
		}
	}
	if l.Bool("safeguarding_hold") && !w.Bool("safeguarding_hold") {
		if err := tx.Set(w.ID, "safeguarding_hold", true); err != nil {
			return err
		}
	}
	note := fmt.Sprintf("Merged with the profile %q on %s by %s. Reason: %s.", l.String("known_as"), m.At, m.By, strings.TrimSpace(m.Reason))
	if len(kept) > 0 {
		note += " Their other details: " + strings.Join(kept, "; ") + "."
	}
	if lw := strings.TrimSpace(l.String("wants")); lw != "" {
		note += " What they wanted: " + lw
	}
	text := w.String("wants")
	if text != "" {
		note = "\n\n" + note
	}
	// The field holds at most wantsMax runes: what does not fit stays on
	// the loser's profile, which is kept.
	if room := wantsMax - utf8.RuneCountInString(text); utf8.RuneCountInString(note) > room {
		if room < 2 {
			note = ""
		} else {
			note = string([]rune(note)[:room-1]) + "…"
		}
	}
	if err := tx.InsertText(w.ID, "wants", utf8.RuneCountInString(text), note); err != nil {
		return err
	}
	loser, winner := string(l.ID), string(w.ID)
	for _, r := range m.About {
		switch r.Type {
		case syncengine.TypeEncounter:
			if !containsString(r.Set("young_people"), loser) {
				continue
			}
			if err := tx.Remove(r.ID, "young_people", loser); err != nil {
				return err
			}
			if !containsString(r.Set("young_people"), winner) {
				if err := tx.Add(r.ID, "young_people", winner); err != nil {
					return err
				}
			}
		case syncengine.TypeReferral, syncengine.TypeFollowUp:
			if r.String("young_person_id") != loser {
				continue
			}
			if err := tx.Set(r.ID, "young_person_id", winner); err != nil {
				return err
			}
		}
	}
	return tx.Set(l.ID, "merged_into", winner)
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
