-- Phones take the server's compacted text state: see server/sqlite's
-- migration 0250. The counter in meta 'text_compacted' is raised by an
-- UPDATE, whose row lock orders passes by commit, so a pull that reads n
-- sees every record given a pass at or below n.
ALTER TABLE text_compaction ADD COLUMN pass BIGINT NOT NULL DEFAULT 0;
ALTER TABLE text_compaction ADD COLUMN unsent_bytes BIGINT NOT NULL DEFAULT 0;
CREATE INDEX text_compaction_pass ON text_compaction (pass) WHERE pass > 0;
