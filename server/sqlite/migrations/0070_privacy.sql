-- The erasure ledger's copy in the database (the file beside it,
-- <db>.erasures, is what survives a restore): ids and times only.
CREATE TABLE erasure_ledger (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        TEXT NOT NULL,
	record_id TEXT NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('erase', 'redact')),
	reason    TEXT NOT NULL,
	entry     TEXT NOT NULL CHECK (json_valid(entry)),
	UNIQUE (record_id, kind, at)
);
CREATE INDEX erasure_ledger_record ON erasure_ledger (record_id);

-- Which phones were told to purge which records, and when they confirmed.
CREATE TABLE purge_notices (
	record_id    TEXT NOT NULL,
	device_id    TEXT NOT NULL REFERENCES devices (id),
	notified_at  TEXT NOT NULL,
	confirmed_at TEXT,
	PRIMARY KEY (device_id, record_id)
) WITHOUT ROWID;
CREATE INDEX purge_notices_record ON purge_notices (record_id);

-- Retention schedule per record type (days after the type's basis date).
CREATE TABLE retention_rules (
	type      TEXT PRIMARY KEY,
	keep_days INTEGER NOT NULL CHECK (keep_days > 0),
	updated   TEXT NOT NULL,
	updated_by TEXT NOT NULL DEFAULT ''
);
INSERT INTO retention_rules (type, keep_days, updated) VALUES
	('encounter', 1095, '1970-01-01T00:00:00.000000000Z'),
	('referral', 2190, '1970-01-01T00:00:00.000000000Z'),
	('follow_up', 1095, '1970-01-01T00:00:00.000000000Z');

-- What each retention run removed (ids only).
CREATE TABLE retention_runs (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      TEXT NOT NULL,
	removed TEXT NOT NULL CHECK (json_valid(removed)),
	held    INTEGER NOT NULL DEFAULT 0
);

-- Legal holds: records kept from retention while the hold stands.
CREATE TABLE legal_holds (
	record_id TEXT PRIMARY KEY,
	reason    TEXT NOT NULL,
	by        TEXT NOT NULL,
	at        TEXT NOT NULL
);

-- The audit log becomes a hash chain: each row's hash covers the previous
-- row's hash and its own content. Rows written before this migration are
-- chained on Open (sealAuditChain); after that a row may never change.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN OLD.hash IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
