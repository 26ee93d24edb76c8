package portal

import (
	"sort"
	"time"

	"github.com/joinedup/joinedup/server/domain"
	"github.com/joinedup/joinedup/syncengine"
)

// decision is who moved a referral to its current state and when: the
// accepting or declining practitioner, the withdrawing worker. Read from the
// status register's winning op, which the server stored, so every view tells
// the same story.
type decision struct {
	By string
	At time.Time
}

func referralDecision(r *syncengine.Record, d *directory) decision {
	switch str(r, "status") {
	case "accepted", "declined", "withdrawn", "closed":
		return decision{By: d.person(r.Author("status")), At: r.WrittenAt("status")}
	}
	return decision{}
}

// referrer is who referred and how the service reaches them and their team.
type referrer struct {
	Name, Email, Team string
	Contacts          []domain.Person // the team's supervisors
}

func referrerOf(r *syncengine.Record, d *directory) referrer {
	id := r.Author("submitted_at")
	if id == "" {
		id = r.Author("status")
	}
	x := referrer{Name: d.person(id), Team: d.team(str(r, "team_id"))}
	if pe, ok := d.people[id]; ok {
		x.Email = pe.Email
	}
	team := str(r, "team_id")
	for _, pe := range d.people {
		if pe.Role == domain.RoleSupervisor && (pe.TeamID == team || containsStr(pe.Supervises, team)) {
			x.Contacts = append(x.Contacts, pe)
		}
	}
	sort.Slice(x.Contacts, func(i, j int) bool { return x.Contacts[i].Name < x.Contacts[j].Name })
	return x
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// urgencyRank orders a waiting list: urgent before soon before routine.
var urgencyRank = map[string]int{"urgent": 3, "soon": 2, "routine": 1}

// waitingFirst is the order of every list of referrals: those waiting for
// the service first, the most urgent at the top and, within an urgency, the
// longest waiting; then the rest, newest first.
func waitingFirst(aStatus, bStatus, aUrgency, bUrgency string, aSubmitted, bSubmitted time.Time) bool {
	aw, bw := aStatus == "submitted", bStatus == "submitted"
	if aw != bw {
		return aw
	}
	if aw {
		if ua, ub := urgencyRank[aUrgency], urgencyRank[bUrgency]; ua != ub {
			return ua > ub
		}
		return aSubmitted.Before(bSubmitted)
	}
	return aSubmitted.After(bSubmitted)
}
