package domain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/joinedup/joinedup/syncengine"
)

// QuarantineItem is a refused changeset kept for review. It is keyed by
// (device, replica, start): a device that forges another phone's replica id
// can never collide with, or shadow, that phone's own changesets.
type QuarantineItem struct {
	ID        int64  `json:"id"`
	DeviceID  string `json:"device_id,omitempty"`
	PersonID  string `json:"person_id,omitempty"` // who pushed it (the device's owner)
	ReplicaID string `json:"replica_id"`
	Start     uint64 `json:"start"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	// Body is the encoded changeset, loaded only to review it. A body over
	// the stored bound is not kept: BodyKept is false and only its size and
	// SHA-256 digest remain (such an item can be discarded, never released).
	Body       []byte    `json:"-"`
	BodyKept   bool      `json:"body_kept"`
	BodySize   int       `json:"body_size"`
	BodyDigest string    `json:"body_digest,omitempty"`
	Created    time.Time `json:"created"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at"`
	Resolution string    `json:"resolution,omitempty"`
}

// Review resolutions.
const (
	ResolutionRelease = "release" // apply it now, if the policy allows it for its pusher and the reviewer
	ResolutionDiscard = "discard" // keep it on record, never apply
)

// QuarantineFilter narrows Quarantine.
type QuarantineFilter struct {
	Open     bool // only unreviewed
	DeviceID string
	Limit    int
	// Reviewer, when set, limits the list to the items that reviewer may
	// decide now (AuthorizeDiscard: everything for an admin, nothing for a
	// worker or practitioner). Nil means unscoped (the store's own callers
	// and tests); every request path sets it.
	Reviewer *Scope
}

// QuarantineDetail is one item with what releasing it would change.
type QuarantineDetail struct {
	QuarantineItem
	// Pending: the changes it depends on have not arrived, so Changes lists
	// what it writes without before values.
	Pending bool           `json:"pending,omitempty"`
	Changes []RecordChange `json:"changes"`
}

// RecordChange is what a changeset would do to one record, readably.
type RecordChange struct {
	RecordID string `json:"record_id"`
	Type     string `json:"type"`
	New      bool   `json:"new,omitempty"`
	Erase    bool   `json:"erase,omitempty"`
	// Hidden: the record is outside the reviewer's teams, so its current
	// values are not shown (only what the pusher wrote).
	Hidden bool          `json:"hidden,omitempty"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field's change. For text, Inserted and Deleted are the
// text added and removed; Before and After are always display strings,
// never raw bytes.
type FieldChange struct {
	Field    string `json:"field"`
	Before   string `json:"before,omitempty"`
	After    string `json:"after"`
	Inserted string `json:"inserted,omitempty"`
	Deleted  string `json:"deleted,omitempty"`
}

// The review of a quarantined item, shared by both stores.

// CheckResolution refuses a resolution other than release or discard.
func CheckResolution(resolution string) error {
	if resolution != ResolutionRelease && resolution != ResolutionDiscard {
		return Errorf(EINVALID, "review quarantine", "resolution must be release or discard")
	}
	return nil
}

// ErrAlreadyReviewed answers a second review of an item.
var ErrAlreadyReviewed = Errorf(ECONFLICT, "review quarantine", "already reviewed")

const opRelease = "release quarantined changeset"

// ReleasableChangeset is the changeset a release would apply: the item's
// body must have been kept and must decode.
func ReleasableChangeset(q QuarantineItem) (*syncengine.Changeset, error) {
	if q.Body == nil {
		return nil, Errorf(EINVALID, opRelease, "this change was too large to keep (%d bytes), so it cannot be released; discard it", q.BodySize)
	}
	cs, err := syncengine.DecodeChangeset(q.Body)
	if err != nil {
		return nil, Errorf(EINVALID, opRelease, "this change does not decode; discard it")
	}
	return cs, nil
}

// ErrPusherGone refuses a release for a device no longer active.
var ErrPusherGone = Errorf(EFORBIDDEN, opRelease, "the device that sent this change is no longer active, so nothing can be released on its behalf")

// ErrStillPending refuses a release whose dependencies are still missing.
var ErrStillPending = Errorf(EMISSINGDEP, opRelease, "the changes it depends on have still not arrived")

// ReviewAudit is the audit entry of a review.
func ReviewAudit(reviewer string, q QuarantineItem, resolution string) AuditEntry {
	return AuditEntry{PersonID: reviewer, DeviceID: q.DeviceID, Action: ActionReview,
		Detail: map[string]any{"quarantine_id": q.ID, "resolution": resolution, "code": q.Code, "pushed_by": q.PersonID}}
}

// TouchedTeams lists (space-separated, a space either side) the teams whose
// records cs writes into: where the store files each record it touches
// (filed: team, and whether the record exists), and for a new record where
// it would be (its team_id, or its young person's team, teamOf). It decides
// only who sees a refused item, never what is allowed.
func TouchedTeams(cs *syncengine.Changeset, filed func(syncengine.RecordID) (team string, exists bool, err error),
	teamOf func(recordID string) (string, error)) (string, error) {
	teams := " "
	add := func(t string) {
		if t != "" && !strings.Contains(teams, " "+t+" ") {
			teams += t + " "
		}
	}
	for _, d := range cs.Deps {
		team, exists, err := filed(d.Record)
		if err != nil {
			return "", err
		}
		if exists {
			add(team)
			continue
		}
		for _, op := range cs.Ops {
			var v string
			if op.Record != d.Record || op.Kind != syncengine.OpSet || json.Unmarshal(op.Value, &v) != nil {
				continue
			}
			switch op.Field {
			case "team_id":
				add(v)
			case "young_person_id":
				t, err := teamOf(v)
				if err != nil {
					return "", err
				}
				add(t)
			}
		}
	}
	return teams, nil
}

// QuarantineRefs are the ids of the records cs writes and of the records
// that would file them (the young_person_id and referral_id values it sets,
// syncengine.FileRecord), each once. A store keeps them with an open item
// so that its list can find, by where those records are filed now, the
// items a reviewer may have a say over (ReviewerDecides decides each).
func QuarantineRefs(cs *syncengine.Changeset) []string {
	seen := map[string]bool{}
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range cs.Records() {
		add(string(id))
	}
	for _, op := range cs.Ops {
		if op.Kind != syncengine.OpSet || (op.Field != "young_person_id" && op.Field != "referral_id") {
			continue
		}
		if v, ok := syncengine.StringValue(op.Value); ok {
			add(v)
		}
	}
	return out
}

// QuarantineRefsOf is QuarantineRefs of a kept body, nil if it does not
// decode (such an item can only be discarded, and is listed by its stored
// teams and sender).
func QuarantineRefsOf(body []byte) []string {
	cs, err := syncengine.DecodeChangeset(body)
	if err != nil {
		return nil
	}
	return QuarantineRefs(cs)
}

// ReviewerListPage is how many candidates a reviewer's list reads at a time.
const ReviewerListPage = 100

// ListDecided is a reviewer's list of items, newest first: it reads
// candidates (a superset of what the reviewer may decide, older than
// before; before 0 is the newest) a page at a time, and keeps those decide
// accepts (the rule of a discard, as of now) until it holds limit.
func ListDecided(limit int, page func(before int64, n int) ([]QuarantineItem, error),
	decide func(QuarantineItem) (bool, error)) ([]QuarantineItem, error) {
	var out []QuarantineItem
	var before int64
	for {
		items, err := page(before, ReviewerListPage)
		if err != nil {
			return nil, err
		}
		for _, q := range items {
			ok, err := decide(q)
			if err != nil {
				return nil, err
			}
			if ok {
				if out = append(out, q); len(out) == limit {
					return out, nil
				}
			}
			before = q.ID
		}
		if len(items) < ReviewerListPage {
			return out, nil
		}
	}
}

// OpenToReviewer is the answer to a reviewer opening (or reviewing) item
// id, given what AuthorizeDiscard said of it (the caller's check, run on the
// item with its body): nil if they may decide it now; not found, as for an
// id never used, if they may not (its code, message, sender and time are
// not theirs to learn by probing ids); else the error.
func OpenToReviewer(id int64, decided error) error {
	ok, err := ReviewerDecides(decided)
	if err != nil || ok {
		return err
	}
	return NotFound("quarantine item", strconv.FormatInt(id, 10))
}

// ReviewerDecides reports whether a reviewer may decide an item now: nil
// from AuthorizeDiscard (the caller's check, run on the item with its
// body) is yes, a refusal is no, anything else an error.
func ReviewerDecides(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case ErrorCode(err) == EFORBIDDEN:
		return false, nil
	}
	return false, err
}
