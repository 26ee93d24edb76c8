-- Phones take the server's compacted text state (textcompact.go,
-- protocol.Response.Compacted). pass is the value of the counter in meta
-- 'text_compacted' taken when a compaction pass last rewrote the record's
-- state (0: never): a pull sends the scope's records with a pass after the
-- device cursor's (domain.Cursor.Compacted), once, so a phone holding one
-- can replace its copy, which keeps every deleted character, with the
-- smaller state. A counter in meta, not MAX(pass): erasure deletes rows,
-- and a value handed out must never come back. A pass is given only when
-- the download is worth it (domain.CompactedWorthSending); unsent_bytes is
-- what passes since the last one given dropped, which phones still keep.
ALTER TABLE text_compaction ADD COLUMN pass INTEGER NOT NULL DEFAULT 0;
ALTER TABLE text_compaction ADD COLUMN unsent_bytes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX text_compaction_pass ON text_compaction (pass) WHERE pass > 0;
