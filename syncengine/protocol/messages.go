package protocol

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
	// JSON only: base64 frames. Binary responses carry them as frame groups.
	Changesets []string `json:"changesets,omitempty"`
	Snapshots  []string `json:"snapshots,omitempty"`
}
