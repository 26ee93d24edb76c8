package domain

// LogStats are counts for dashboards and metrics.
type LogStats struct {
	Changesets int64 `json:"changesets"`
	Records    int64 `json:"records"`
	Devices    int64 `json:"devices"`
	Quarantine int64 `json:"quarantine_open"`
}

// RecordFilter narrows Records.
type RecordFilter struct {
	Type          string
	TeamIDs       []string // empty: any
	ServiceID     string
	YoungPersonID string
	Limit         int
}

// CompactResult says what CompactLog did.
type CompactResult struct {
	Through    int64 `json:"through"`    // log positions at or below this are gone
	Changesets int64 `json:"changesets"` // changesets deleted
}

// TextCompactResult says what CompactText did.
type TextCompactResult struct {
	Looked    int `json:"looked"`    // records considered (changed since last looked at, and large enough)
	Compacted int `json:"compacted"` // records whose text lost tombstones
	Dropped   int `json:"dropped"`   // tombstones dropped
	// Waiting: left for a later pass, because a device that may write the
	// record has not pulled its last change, or a held changeset waits on it.
	Waiting     int   `json:"waiting"`
	BytesBefore int64 `json:"bytes_before"` // stored states of the compacted records, before
	BytesAfter  int64 `json:"bytes_after"`  // and after
}
