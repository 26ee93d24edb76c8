package mobilesdk

// The binary sync body (Content-Type application/x-joinedup), as documented
// in docs/sync-protocol.md:
//
//	"JUP" 0x01  uvarint(len(header)) header(JSON)
//	then groups, each uvarint(n) n × (uvarint(len) frame)
//
// A request carries one group (changeset frames), a response two
// (changesets, then snapshots). Frames are the engine's JUC1/JUS1 frames.
// (The envelope codec itself is syncengine/protocol, shared with the server.)

type syncRequest struct {
	Cursor    string `json:"cursor"`
	Pending   int64  `json:"pending"`
	PageBytes int    `json:"page_bytes,omitempty"`
	NoPull    bool   `json:"no_pull,omitempty"`
}

type pushResult struct {
	Replica string `json:"replica"`
	Start   uint64 `json:"start"`
	Status  string `json:"status"` // accepted, duplicate, quarantined
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

type syncResponse struct {
	Results []pushResult `json:"results"`
	Drop    []string     `json:"drop"`
	Reset   bool         `json:"reset"`
	Cursor  string       `json:"cursor"`
	More    bool         `json:"more"`
}
