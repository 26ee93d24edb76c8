package protocol

import "encoding/json"

// The sync messages: the JSON body (or the binary envelope's header) a phone
// sends to POST /v1/sync and what the server answers. They are written once,
// here, for the phone (mobile-sdk) and the server (server/api) alike.

// Push result statuses.
const (
	StatusAccepted    = "accepted"
	StatusDuplicate   = "duplicate"
	StatusQuarantined = "quarantined"
	// StatusRefused: not applied and not stored (code says why, e.g.
	// held_limit); the phone keeps the changeset and sends it again later.
	StatusRefused = "refused"
)

// PushResult is the outcome for one pushed changeset.
type PushResult struct {
	Replica string `json:"replica"`
	Start   uint64 `json:"start"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Seq     int64  `json:"seq,omitempty"`
}

// Request is the JSON body of a sync request, and the binary envelope's header.
type Request struct {
	Cursor    string `json:"cursor" validate:"max=200"`
	Pending   int64  `json:"pending" validate:"gte=0"`
	PageBytes int    `json:"page_bytes,omitempty" validate:"omitempty,min=1024,max=8388608"`
	NoPull    bool   `json:"no_pull,omitempty"`
	// Purged confirms erased records the device has purged (Response.Erase).
	Purged []string `json:"purged,omitempty" validate:"max=1000,dive,max=100"`
	// Changesets are base64 JUC frames (JSON only; binary bodies carry raw frames).
	Changesets []string `json:"changesets,omitempty" validate:"max=20000"`
	// FieldWeeks asks for a first sync of the field subset: young people,
	// open referrals and follow-ups, and the last FieldWeeks weeks of
	// encounters; older records are fetched on demand (POST /v1/sync/fetch).
	// 0 (phones from before it) asks for the whole scope. It only matters
	// when a snapshot starts; the cursor keeps the cutoff while it pages.
	FieldWeeks int `json:"field_weeks,omitempty" validate:"omitempty,min=1,max=520"`
	// DirectoryVersion is the service directory version the phone holds
	// ("" none): the response carries the directory only when it differs.
	DirectoryVersion string `json:"directory_version,omitempty" validate:"max=40"`
	// RosterVersion is the team roster version the phone holds ("" none):
	// the response carries the roster only when it differs.
	RosterVersion string `json:"roster_version,omitempty" validate:"max=40"`
	// KeptAside asks which of the device's quarantined saves the server has
	// not applied (Response.KeptAside): a phone showing refused saves sends it.
	KeptAside bool `json:"kept_aside,omitempty"`
}

// SaveKey names one of a phone's saves: its replica and first counter.
type SaveKey struct {
	Replica string `json:"replica"`
	Start   uint64 `json:"start"`
}

// Response is the JSON body of a sync response, and the binary envelope's header.
type Response struct {
	Results []PushResult `json:"results"`
	Drop    []string     `json:"drop"`
	Reset   bool         `json:"reset"` // drop everything received from the server before applying
	Cursor  string       `json:"cursor"`
	More    bool         `json:"more"`
	// Erase lists erased (or redacted) records the device must purge from
	// every table (records, outbox, inbox, sent, quarantine), then confirm
	// in Request.Purged. Unlike Drop it is sent until confirmed.
	Erase []string `json:"erase,omitempty"`
	// Damaged names records of the device's scope the server left out
	// because its stored copy is damaged. Phones may ignore it: the record
	// is sent again once repaired.
	Damaged []string `json:"damaged,omitempty"`
	// Rebase names records whose snapshot in this response must replace
	// the phone's copy even when the phone's covers it (its unsent saves
	// applied again on top): the server placed an edit made before it
	// compacted the record's text, and a phone that kept the deleted
	// characters may have placed it elsewhere among them. Phones from before
	// it ignore it (and may show such a rare late edit in another place
	// among the same visible neighbours until the record is sent again).
	Rebase []string `json:"rebase,omitempty"`
	// Compacted names records whose snapshot in this response is there only
	// because the server compacted their text (dropped deleted characters
	// no device still needs) since the device's cursor: the same content in
	// less space. A phone holding the record replaces its copy when that
	// copy has nothing the snapshot lacks (the snapshot's version vector
	// covers the copy's: no unsent saves on it), and otherwise keeps its
	// copy (it is sent the record again after a later compaction or a
	// rebase); a phone that does not hold the record (a field-subset phone)
	// ignores it. Phones from before it ignore it: they keep their copies.
	Compacted []string `json:"compacted,omitempty"`
	// JSON only: base64 frames. Binary responses carry them as frame groups.
	Changesets []string `json:"changesets,omitempty"`
	Snapshots  []string `json:"snapshots,omitempty"`
	// Partial says this snapshot is the field subset (Request.FieldWeeks):
	// records older than FieldSince (unix seconds) are not sent unless
	// fetched; changesets may touch records the phone does not hold, which
	// it sets aside (a fetch brings them whole).
	Partial    bool  `json:"partial,omitempty"`
	FieldSince int64 `json:"field_since,omitempty"`
	// FieldSeq, on the subset's last page, is the log position every record
	// it sent is at: a record changed after it may be one the phone lacks,
	// whatever its age, so FetchRequest.Rest sends it too.
	FieldSeq int64 `json:"field_seq,omitempty"`
	// Progress is how far this pull has come (for a progress bar).
	Progress *Progress `json:"progress,omitempty"`
	// Directory is the service directory, when it differs from the version
	// the phone named. Read-only: phones never write it.
	Directory *Directory `json:"directory,omitempty"`
	// Roster is the device's teams' active workers and supervisors, when it
	// differs from the version the phone named. Read-only, and always the
	// device's own teams: the server reads them from the device's person.
	Roster *Roster `json:"roster,omitempty"`
	// KeptAside, when the request asked, lists the device's quarantined
	// saves the server has not applied: waiting for review, or discarded by
	// a reviewer (the newest 1,000). A phone shows each as refused whatever
	// its records' versions say: a later save of its own to the same record
	// makes them cover one the server never applied.
	KeptAside []SaveKey `json:"kept_aside,omitempty"`
}

// Progress says how far a pull has come, for a phone's progress bar:
// Done of Total items of the current phase. Phase "snapshot": records of a
// first sync (or of a fetch of older records); "changes": log positions of
// an incremental pull since the cursor it started from. The phone shows
// Done/Total; a page with More false is complete whatever the counts say.
type Progress struct {
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

// Directory is the service directory, sent read-only to phones in a sync
// response whenever its version differs from Request.DirectoryVersion.
type Directory struct {
	Version  string             `json:"version"`
	Services []DirectoryService `json:"services"`
}

// DirectoryService is one service as phones see it: enough to address a
// referral offline.
type DirectoryService struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Contact string `json:"contact,omitempty"`
	// Hours are the opening hours as the directory stores them (a list of
	// {"Weekday","Start","End"} in TZ, or free text).
	Hours   json.RawMessage `json:"hours,omitempty"`
	TZ      string          `json:"tz,omitempty"`
	Pathway string          `json:"pathway,omitempty"`
	// SharedFields are the referral fields the service's data-sharing
	// agreement lets it see.
	SharedFields []string `json:"shared_fields"`
}

// Roster is the people a phone may name as "workers present" at an
// encounter: the active workers and supervisors of the device's teams, the
// least a phone needs to show them (an id and a name).
type Roster struct {
	Version string         `json:"version"`
	Workers []RosterPerson `json:"workers"`
}

// RosterPerson is one member of a team as phones see them.
type RosterPerson struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// FetchRequest is the body of POST /v1/sync/fetch: records a phone does not
// hold, by id (opened on the phone), a young person's history, or the next
// page of the scope's records older than its first sync (Rest, from After).
type FetchRequest struct {
	Records     []string `json:"records,omitempty" validate:"max=500,dive,max=64"`
	YoungPerson string   `json:"young_person,omitempty" validate:"max=64"`
	Rest        bool     `json:"rest,omitempty"`
	Since       int64    `json:"since,omitempty" validate:"gte=0"`
	Seq         int64    `json:"seq,omitempty" validate:"gte=0"` // with Rest: the first sync's field_seq
	After       string   `json:"after,omitempty" validate:"max=64"`
	PageBytes   int      `json:"page_bytes,omitempty" validate:"omitempty,min=1024,max=8388608"`
}

// FetchResponse answers a fetch: snapshots (JSON: base64 frames; binary: the
// envelope's one frame group), and for Rest where to go on from.
type FetchResponse struct {
	After     string    `json:"after,omitempty"`
	More      bool      `json:"more"`
	Progress  *Progress `json:"progress,omitempty"`
	Snapshots []string  `json:"snapshots,omitempty"`
}
