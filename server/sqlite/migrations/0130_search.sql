-- Full-text search over names and narratives (domain.SearchText), kept by
-- the transaction that stores each record (search.go). FTS5 needs
-- go-sqlite3's sqlite_fts5 build tag; Open refuses a build without it.
--
-- search_rows gives each indexed record a stable rowid (an INTEGER PRIMARY
-- KEY survives VACUUM; records' implicit rowid does not). Searches join
-- records for the record's current team, deleted and erased flags, so a
-- move between teams needs no re-indexing.
CREATE TABLE search_rows (
	rowid     INTEGER PRIMARY KEY,
	record_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE record_search USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2');
-- secure-delete: a deleted row's words leave the index at once, not at the
-- next merge of its segments, so an erased name is not left on disk.
INSERT INTO record_search (record_search, rank) VALUES ('secure-delete', 1);

-- One row while the records stored before this migration wait to be
-- indexed (Open does it, in Go: record states are engine-encoded).
CREATE TABLE search_backfill (pending INTEGER NOT NULL);
INSERT INTO search_backfill (pending) VALUES (1);
