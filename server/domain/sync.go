package domain

import (
	"github.com/joinedup/joinedup/syncengine"
	"github.com/joinedup/joinedup/syncengine/protocol"
)

// SyncRequest is one device round trip: changesets to push, then a pull.
type SyncRequest struct {
	Device     Device
	Person     Person
	Changesets []*syncengine.Changeset
	// Received[i], if not nil, is the frame Changesets[i] arrived in, known
	// to be exactly its canonical encoding (syncengine.DecodeChangesetsCanonical):
	// a store may log it rather than encode the changeset again.
	Received  [][]byte
	Cursor    string
	Pending   int64 // changesets the device holds that it could not apply yet
	PageBytes int   // pull budget; at least one changeset or record is always sent
	NoPull    bool
	Purged    []string // erased records the device confirms it purged
	// FieldWeeks > 0 asks a snapshot that starts now for the field subset
	// (FieldAt); DirectoryVersion is the directory version the device holds.
	FieldWeeks       int
	DirectoryVersion string
	// RosterVersion is the team roster version the device holds.
	RosterVersion string
}

// SyncResult is what the server sends back.
type SyncResult struct {
	Results    []protocol.PushResult `json:"results"`
	Changesets [][]byte              `json:"-"` // JUC frames, in log order
	Snapshots  [][]byte              `json:"-"` // JUS frames
	Drop       []string              `json:"drop"`
	Reset      bool                  `json:"reset"` // drop everything received from the server before applying
	Cursor     string                `json:"cursor"`
	More       bool                  `json:"more"`
	Erase      []string              `json:"erase,omitempty"` // erased records the device must purge (and confirm)
	// Damaged lists records in the device's scope left out of this page
	// because the server's stored copy is damaged (see docs/sync-protocol.md).
	Damaged []string `json:"damaged,omitempty"`
	// Rebase lists records whose snapshot (in Snapshots) replaces the
	// device's copy even where its copy covers it: a late text edit was
	// placed by the server's compacted copy (protocol.Response.Rebase).
	Rebase []string `json:"rebase,omitempty"`
	// Compacted lists records whose snapshot (in Snapshots) is sent only
	// because their text was compacted since the device's cursor
	// (protocol.Response.Compacted).
	Compacted []string `json:"compacted,omitempty"`
	// Partial: this snapshot is the field subset from FieldSince on.
	Partial    bool                `json:"partial,omitempty"`
	FieldSince int64               `json:"field_since,omitempty"`
	FieldSeq   int64               `json:"field_seq,omitempty"`
	Progress   *protocol.Progress  `json:"progress,omitempty"`
	Directory  *protocol.Directory `json:"directory,omitempty"`
	Roster     *protocol.Roster    `json:"roster,omitempty"`

	// For metrics and the live channel; not sent.
	Accepted, Duplicates, Quarantined, Conflicts int      `json:"-"`
	Touched                                      []string `json:"-"` // scope keys ("team:x", "svc:y") changed by accepted pushes
	SentRecords                                  []string `json:"-"` // ids of the records this page carried (the read audit)
}

// DefaultPageBytes is the pull page budget when the device does not ask.
const DefaultPageBytes = 1 << 20

// ReceivedFrames indexes the request's canonical frames (Received) by the
// changeset each carries, for a store to log as they are. Keyed by the
// decoded changeset: a copy the store changes (redacted, re-pointed) is
// another changeset and must be encoded anew.
func (r SyncRequest) ReceivedFrames() map[*syncengine.Changeset][]byte {
	if len(r.Received) != len(r.Changesets) {
		return nil
	}
	m := make(map[*syncengine.Changeset][]byte, len(r.Changesets))
	for i, f := range r.Received {
		if f != nil {
			m[r.Changesets[i]] = f
		}
	}
	return m
}
