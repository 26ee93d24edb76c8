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
