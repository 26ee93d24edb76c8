-- The records a quarantined save writes and the ones that file them: see
-- server/sqlite's migration 0260. The list joins them to where those
-- records are filed now, then decides each item as a discard would.
CREATE TABLE quarantine_refs (
	quarantine_id BIGINT NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
	record_id     TEXT NOT NULL,
	PRIMARY KEY (quarantine_id, record_id)
);
-- Items refused before: their refs are written at the next start
-- (backfillQuarantineRefs), once.
CREATE TABLE quarantine_refs_backfill (pending INTEGER NOT NULL);
INSERT INTO quarantine_refs_backfill (pending) VALUES (1);
