-- Text tombstone compaction (textcompact.go, docs/architecture.md "History
-- compaction and tombstones"). One row per record the compaction pass has
-- looked at: state is the record's syncengine.TextCompaction (JUT frame: C,
-- the record's version vector when its text was compacted, and where every
-- dropped tombstone lay), NULL while nothing was dropped; vv is C alone (a
-- JUT frame without fields), which every push of text to the record reads,
-- while state (which grows with what was dropped) is read only for a push
-- naming dropped text; at_seq is the record's updated_seq when the pass
-- last looked, so an unchanged record is not decoded again. Only ids, no
-- content: erasure deletes the row anyway.
CREATE TABLE text_compaction (
	record_id    TEXT PRIMARY KEY,
	vv           BLOB,
	state        BLOB,
	at_seq       INTEGER NOT NULL,
	compacted_at TEXT NOT NULL
) WITHOUT ROWID;

-- The changesets after which a record's state must be sent whole to every
-- phone holding it: a late insert (made before the record was compacted)
-- or one re-pointed off dropped text is placed by the server's compacted
-- copy, possibly elsewhere among tombstones than a phone that kept them
-- placed it. A pull past seq sends the record's snapshot marked to
-- replace the phone's copy (protocol.Response.Rebase). Log compaction
-- deletes rows with the changesets (phones further behind start again from
-- a snapshot anyway).
CREATE TABLE text_rebases (
	seq       INTEGER NOT NULL,
	record_id TEXT NOT NULL,
	PRIMARY KEY (seq, record_id)
) WITHOUT ROWID;
