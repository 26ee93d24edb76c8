package domain

import (
	"encoding/json"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// Concern levels, lowest first (syncengine.ConcernLevels).
const (
	ConcernNone   = "none"
	ConcernLow    = "low"
	ConcernMedium = "medium"
	ConcernHigh   = "high"
	ConcernUrgent = "urgent"
)

var concernRanks = map[string]int{ConcernNone: 0, ConcernLow: 1, ConcernMedium: 2, ConcernHigh: 3, ConcernUrgent: 4}

// ConcernRank orders levels: 0 is no concern, 4 urgent. Unknown levels are 0.
func ConcernRank(level string) int { return concernRanks[level] }

// ConcernAlerting reports whether a level must reach the supervisors at once.
func ConcernAlerting(level string) bool { return ConcernRank(level) >= ConcernRank(ConcernHigh) }

// ConcernLevel is an encounter's safeguarding concern: the one source every
// list, filter, count, report and notification rule reads. It is the
// concern_level field; the old boolean "concern" never lowers or hides it.
//
// Two cases are decided for safety, so that a concern is never invisible:
//   - concern_level in conflict (two phones chose differently): the highest
//     of the concurrent values, until a supervisor resolves it;
//   - no level at all but the old flag set (a phone that only ticked the box):
//     "low", a concern that is shown but does not page anyone.
//
// An explicit "none" is no concern whatever the flag says. "" is no concern.
func ConcernLevel(r *syncengine.Record) string {
	if r == nil {
		return ""
	}
	best, set := "", false
	if f := r.Fields["concern_level"]; f != nil && f.Kind == syncengine.KindRegister {
		for _, v := range f.Values {
			var s string
			if json.Unmarshal(v.Value, &s) != nil {
				continue
			}
			if _, ok := concernRanks[s]; !ok {
				continue
			}
			if !set || concernRanks[s] > concernRanks[best] {
				best, set = s, true
			}
		}
	}
	if set {
		if best == ConcernNone {
			return ""
		}
		return best
	}
	if r.Bool("concern") {
		return ConcernLow
	}
	return ""
}

// ConcernAlert is a high or urgent concern the server raised: it stays open
// until a supervisor acknowledges it with a note. One per encounter and level
// (raising an acknowledged high concern to urgent opens a new alert).
type ConcernAlert struct {
	ID          string
	EncounterID string
	TeamID      string
	Level       string
	RaisedAt    time.Time
	AckedBy     string // person id; "" while open
	AckedAt     time.Time
	AckNote     string
}

// Open reports whether nobody has acknowledged the alert yet.
func (a ConcernAlert) Open() bool { return a.AckedBy == "" }

// ConcernAlertFilter narrows ConcernAlerts; zero fields match everything.
type ConcernAlertFilter struct {
	EncounterID string
	OpenOnly    bool
	Limit       int
}
