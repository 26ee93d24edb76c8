-- The search index without FTS5's secure-delete (search.go).
--
-- secure-delete made every changed record's old words leave the index at
-- once, at the price of reading and rewriting the index's pages on each
-- delete: it was the largest single cost of a push (22% of a week's). An
-- ordinary edit's old words now leave at the index's next merge, which is
-- harmless (a search never matches a deleted row's words: FTS5 keeps delete
-- markers). An erasure cannot wait for that: the transaction that erases
-- runs the index's 'optimize', which rewrites it without any deleted entry,
-- and secure_delete (the connection's pragma) zeroes the pages it frees;
-- the WAL is truncated after the commit (checkpointAfterErasure).
INSERT INTO record_search (record_search, rank) VALUES ('secure-delete', 0);

-- digest is the SHA-256 of the text a row indexes, so an unchanged text is
-- known without reading the index (a read flushes FTS5's pending terms into
-- a new segment, which is what made each stored record cost a merge).
-- NULL on rows indexed before: their next change re-indexes them.
ALTER TABLE search_rows ADD COLUMN digest BLOB;
