package domain

// StorageHealth is what the store knows about its own storage, for /readyz.
// It never names a record's content: damaged records are counted, and their
// ids go to the server log only.
type StorageHealth struct {
	// Corrupt is set when an integrity check failed or SQLite reported the
	// file corrupt: writes are refused (EDBCORRUPT) until the database is
	// restored from a backup; reads are served while they work.
	Corrupt string `json:"corrupt,omitempty"`
	// Fault is the code of the last failed write when it failed for storage
	// reasons (ESTORAGEFULL, ESTORAGE); it clears when a write succeeds.
	Fault string `json:"fault,omitempty"`
	// Damaged counts stored records and changesets whose checksum does not
	// match: they are skipped in pulls until repaired (see docs/operations.md).
	Damaged int `json:"damaged,omitempty"`
}
