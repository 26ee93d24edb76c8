-- Push delivery's tables (server/push sends from them; the store writes and leases the
-- rows). Times are Unix milliseconds (UTC). push_outbox.state is pending|sent|dead|cancelled:
-- cancelled when the cause went away (a follow-up closed before its escalation, a referral
-- accepted in time). IF NOT EXISTS: databases from before this file had these tables made
-- by push.Schema under the same number.
CREATE TABLE IF NOT EXISTS push_tokens (
	device_id TEXT NOT NULL,
	person_id TEXT NOT NULL,
	token     TEXT NOT NULL UNIQUE,
	platform  TEXT NOT NULL DEFAULT '',
	last_seen INTEGER NOT NULL,
	created   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_tokens_person ON push_tokens(person_id);
CREATE INDEX IF NOT EXISTS push_tokens_device ON push_tokens(device_id);

CREATE TABLE IF NOT EXISTS push_outbox (
	id             TEXT PRIMARY KEY,
	recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('person', 'service')),
	recipient_id   TEXT NOT NULL,
	kind           TEXT NOT NULL,
	record_id      TEXT NOT NULL DEFAULT '',
	urgent         INTEGER NOT NULL DEFAULT 0,
	not_before     INTEGER NOT NULL DEFAULT 0,
	attempts       INTEGER NOT NULL DEFAULT 0,
	next_attempt   INTEGER NOT NULL,
	lease_owner    TEXT,
	lease_until    INTEGER,
	state          TEXT NOT NULL DEFAULT 'pending'
	               CHECK (state IN ('pending', 'sent', 'dead', 'cancelled')),
	last_error     TEXT NOT NULL DEFAULT '',
	created        INTEGER NOT NULL,
	sent_at        INTEGER
);
CREATE INDEX IF NOT EXISTS push_outbox_due ON push_outbox(urgent, next_attempt) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS push_outbox_record ON push_outbox(record_id) WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS push_deliveries (
	outbox_id  TEXT NOT NULL REFERENCES push_outbox(id) ON DELETE CASCADE,
	token      TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL, -- sent | unregistered | invalid | retry | failed
	at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS push_deliveries_outbox ON push_deliveries(outbox_id);
