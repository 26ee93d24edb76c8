-- Text tombstone compaction, as server/sqlite's 0220 (textcompact.go): per
-- record its syncengine.TextCompaction (NULL while nothing was dropped), C
-- alone (vv, read by every push of text to it), and
-- the record's updated_seq when the pass last looked; and the changesets
-- after which a record's state must be sent whole to every phone holding
-- it (a late text insert placed by the compacted copy).
CREATE TABLE text_compaction (
	record_id    TEXT PRIMARY KEY,
	vv           BYTEA,
	state        BYTEA,
	at_seq       BIGINT NOT NULL,
	compacted_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE text_rebases (
	seq       BIGINT NOT NULL,
	record_id TEXT NOT NULL,
	PRIMARY KEY (seq, record_id)
);
