-- Full-text search over names and narratives (domain.SearchText), as the
-- SQLite store's FTS5 index: one row per live record of a searched type,
-- written by the transaction that stores the record (search.go). The
-- 'simple' configuration does not stem: names and Welsh words match as
-- typed, by prefix. Searches join records for the current team and flags.
CREATE TABLE record_search (
	record_id TEXT PRIMARY KEY,
	body      TEXT NOT NULL,
	doc       TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
);
CREATE INDEX record_search_doc ON record_search USING GIN (doc);

-- One row while records stored before this migration wait to be indexed.
CREATE TABLE search_backfill (pending INTEGER NOT NULL);
INSERT INTO search_backfill (pending) VALUES (1);
