-- log_version changes, to a value never seen before (random, so a
-- rolled-back change's value cannot come back for another change), whenever
-- the incremental pull could answer differently about a changeset already in
-- the log: a changeset rewritten (erasure, redaction, repair) or deleted
-- (compaction), a changeset_records row changed or deleted, a record moved
-- to another team, its change position lowered, or the record deleted.
-- Appending changesets, the common write, leaves it alone. While it stands
-- the server answers a team's phones from the team's recent changesets kept
-- in memory (pullfeed.go) instead of reading them again for every phone.
INSERT INTO meta (key, value) VALUES ('log_version', lower(hex(randomblob(8))));
CREATE TRIGGER log_version_changesets_update AFTER UPDATE ON changesets
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
CREATE TRIGGER log_version_changesets_delete AFTER DELETE ON changesets
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
CREATE TRIGGER log_version_changeset_records_update AFTER UPDATE ON changeset_records
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
CREATE TRIGGER log_version_changeset_records_delete AFTER DELETE ON changeset_records
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
-- Every push upserts its records (team_id and updated_seq rewritten with
-- the same team and a higher position): only a real move or a lowered
-- position counts.
CREATE TRIGGER log_version_records_update AFTER UPDATE OF team_id, updated_seq ON records
WHEN OLD.team_id IS NOT NEW.team_id OR NEW.updated_seq < OLD.updated_seq
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
CREATE TRIGGER log_version_records_delete AFTER DELETE ON records
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'log_version'; END;
