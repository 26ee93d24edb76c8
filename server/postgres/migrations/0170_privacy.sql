-- Privacy (SQLite's 0070): the erasure ledger, purge notices, retention and
-- legal holds, and the audit log's hash chain.

-- Every erasure, ids and times only (never content), so it can be applied
-- again (ReapplyLedger) to a database restored from before it.
CREATE TABLE erasure_ledger (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at        TIMESTAMPTZ NOT NULL,
	record_id TEXT NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('erase', 'redact')),
	reason    TEXT NOT NULL,
	entry     JSONB NOT NULL,
	UNIQUE (record_id, kind, at)
);
CREATE INDEX erasure_ledger_record ON erasure_ledger (record_id);

-- Which phones were told to purge which records, and when they confirmed.
CREATE TABLE purge_notices (
	record_id    TEXT NOT NULL,
	device_id    TEXT NOT NULL REFERENCES devices (id),
	notified_at  TIMESTAMPTZ NOT NULL,
	confirmed_at TIMESTAMPTZ,
	PRIMARY KEY (device_id, record_id)
);
CREATE INDEX purge_notices_record ON purge_notices (record_id);

CREATE TABLE retention_rules (
	type       TEXT PRIMARY KEY,
	keep_days  INTEGER NOT NULL CHECK (keep_days > 0),
	updated    TIMESTAMPTZ NOT NULL,
	updated_by TEXT NOT NULL DEFAULT ''
);
INSERT INTO retention_rules (type, keep_days, updated) VALUES
	('encounter', 1095, 'epoch'), ('referral', 2190, 'epoch'), ('follow_up', 1095, 'epoch');

CREATE TABLE retention_runs (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      TIMESTAMPTZ NOT NULL,
	removed JSONB NOT NULL,
	held    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE legal_holds (
	record_id TEXT PRIMARY KEY,
	reason    TEXT NOT NULL,
	by        TEXT NOT NULL,
	at        TIMESTAMPTZ NOT NULL
);

-- The hash chain. Rows are inserted unchained by many nodes at once (ids
-- are drawn at insert, not in commit order); a sealer, one at a time under
-- an advisory lock, gives committed rows their place in the chain
-- (chain_pos: 1, 2, 3, ...) and hashes. After that a row never changes: the
-- trigger lets an update only seal an unsealed row, never touch its content.
ALTER TABLE audit_log ADD COLUMN chain_pos BIGINT UNIQUE;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE INDEX audit_unchained ON audit_log (id) WHERE chain_pos IS NULL;

CREATE FUNCTION audit_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' OR OLD.hash IS NOT NULL OR OLD.chain_pos IS NOT NULL
		OR (NEW.at, NEW.person_id, NEW.device_id, NEW.action, NEW.record_id, NEW.detail)
			IS DISTINCT FROM (OLD.at, OLD.person_id, OLD.device_id, OLD.action, OLD.record_id, OLD.detail) THEN
		RAISE EXCEPTION 'audit_log is append-only';
	END IF;
	RETURN NEW;
END $$;
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_seal_only();

-- Who received which records (pulls, portal pages, exports): the access
-- history and an erasure's purge notices look records up in the detail's
-- "records" list.
CREATE INDEX audit_records ON audit_log USING gin ((detail -> 'records')) WHERE action IN ('sync', 'read', 'export');
