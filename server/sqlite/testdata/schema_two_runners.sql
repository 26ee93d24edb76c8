-- The schema and migrations table of a database created by the two-runner code
-- (sqlite.migrate with push.Schema built in, then portal.Migrate), before one runner over
-- server/sqlite/migrations/. Generated once; never regenerate it from newer code.
CREATE TABLE migrations (
		n INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE areas (
	id   TEXT PRIMARY KEY,
	name TEXT NOT NULL
);
CREATE TABLE teams (
	id      TEXT PRIMARY KEY,
	area_id TEXT NOT NULL REFERENCES areas (id),
	name    TEXT NOT NULL
);
CREATE TABLE services (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	kind          TEXT NOT NULL DEFAULT '',
	contact       TEXT NOT NULL DEFAULT '',
	pathway       TEXT NOT NULL DEFAULT '',
	tz            TEXT NOT NULL DEFAULT 'Europe/London',
	hours         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(hours)),
	shared_fields TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(shared_fields)),
	created       TEXT NOT NULL,
	updated       TEXT NOT NULL
);
CREATE TABLE people (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	email         TEXT UNIQUE,
	role          TEXT NOT NULL CHECK (role IN ('worker', 'supervisor', 'practitioner', 'admin')),
	team_id       TEXT REFERENCES teams (id),
	service_id    TEXT REFERENCES services (id),
	tz            TEXT NOT NULL DEFAULT 'Europe/London',
	hours         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(hours)),
	password_hash TEXT,
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until  TEXT,
	created       TEXT NOT NULL,
	updated       TEXT NOT NULL
);
CREATE INDEX people_team ON people (team_id);
CREATE INDEX people_service ON people (service_id);
CREATE TABLE team_supervisors (
	person_id TEXT NOT NULL REFERENCES people (id),
	team_id   TEXT NOT NULL REFERENCES teams (id),
	PRIMARY KEY (person_id, team_id)
);
CREATE TABLE devices (
	id               TEXT PRIMARY KEY,
	person_id        TEXT NOT NULL REFERENCES people (id),
	replica_id       TEXT NOT NULL UNIQUE,
	platform         TEXT NOT NULL DEFAULT '',
	credential_hash  BLOB NOT NULL UNIQUE,
	status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
	wipe_requested   INTEGER NOT NULL DEFAULT 0,
	wiped_at         TEXT,
	revoked_by       TEXT,
	revoked_at       TEXT,
	created          TEXT NOT NULL,
	last_seen        TEXT,
	last_sync_at     TEXT,
	last_cursor      INTEGER NOT NULL DEFAULT 0,
	pending_reported INTEGER NOT NULL DEFAULT 0,
	-- The scope last served to the device (JSON), to detect worker moves.
	served_scope     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_person ON devices (person_id);
CREATE TABLE enrolment_codes (
	code_hash  BLOB PRIMARY KEY,
	person_id  TEXT NOT NULL REFERENCES people (id),
	expires_at TEXT NOT NULL,
	used_at    TEXT,
	device_id  TEXT,
	created_by TEXT NOT NULL,
	created    TEXT NOT NULL
);
CREATE TABLE audit_log (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        TEXT NOT NULL,
	person_id TEXT,
	device_id TEXT,
	action    TEXT NOT NULL,
	record_id TEXT,
	detail    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);
CREATE INDEX audit_record ON audit_log (record_id);
CREATE INDEX audit_person ON audit_log (person_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE sharing_decisions (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	referral_id   TEXT NOT NULL,
	decision      TEXT NOT NULL CHECK (decision IN ('given', 'refused', 'shared_without_consent')),
	justification TEXT NOT NULL DEFAULT '',
	decided_by    TEXT NOT NULL,
	at            TEXT NOT NULL,
	CHECK (decision <> 'shared_without_consent' OR length(justification) > 0)
);
CREATE INDEX sharing_referral ON sharing_decisions (referral_id);
CREATE TRIGGER sharing_no_update BEFORE UPDATE ON sharing_decisions
BEGIN SELECT RAISE(ABORT, 'sharing_decisions is append-only'); END;
CREATE TRIGGER sharing_no_delete BEFORE DELETE ON sharing_decisions
BEGIN SELECT RAISE(ABORT, 'sharing_decisions is append-only'); END;
CREATE TABLE changesets (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	replica_id  TEXT NOT NULL,
	start       INTEGER NOT NULL,
	span        INTEGER NOT NULL,
	device_id   TEXT,
	author      TEXT NOT NULL DEFAULT '',
	received_at TEXT NOT NULL,
	body        BLOB NOT NULL,
	UNIQUE (replica_id, start)
);
CREATE TABLE changeset_records (
	seq       INTEGER NOT NULL REFERENCES changesets (seq),
	record_id TEXT NOT NULL,
	PRIMARY KEY (record_id, seq)
) WITHOUT ROWID;
CREATE INDEX changeset_records_seq ON changeset_records (seq);
CREATE TABLE records (
	id              TEXT PRIMARY KEY,
	type            TEXT NOT NULL,
	team_id         TEXT,
	service_id      TEXT,
	young_person_id TEXT,
	state           BLOB NOT NULL,
	updated_seq     INTEGER NOT NULL,
	deleted         INTEGER NOT NULL DEFAULT 0,
	erased          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_team ON records (team_id, updated_seq);
CREATE INDEX records_service ON records (service_id, updated_seq);
CREATE INDEX records_young_person ON records (young_person_id);
CREATE TABLE scope_events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	seq       INTEGER NOT NULL,
	record_id TEXT NOT NULL,
	from_team TEXT,
	to_team   TEXT,
	at        TEXT NOT NULL
);
CREATE INDEX scope_events_seq ON scope_events (seq);
CREATE TABLE quarantine (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id   TEXT,
	replica_id  TEXT NOT NULL,
	start       INTEGER NOT NULL,
	code        TEXT NOT NULL,
	message     TEXT NOT NULL,
	body        BLOB NOT NULL,
	created     TEXT NOT NULL,
	reviewed_by TEXT,
	reviewed_at TEXT,
	resolution  TEXT,
	UNIQUE (replica_id, start)
);
CREATE INDEX quarantine_open ON quarantine (reviewed_at);
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE push_tokens (
	device_id TEXT NOT NULL,
	person_id TEXT NOT NULL,
	token     TEXT NOT NULL UNIQUE,
	platform  TEXT NOT NULL DEFAULT '',
	last_seen INTEGER NOT NULL,
	created   INTEGER NOT NULL
);
CREATE INDEX push_tokens_person ON push_tokens(person_id);
CREATE INDEX push_tokens_device ON push_tokens(device_id);
CREATE TABLE push_outbox (
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
CREATE INDEX push_outbox_due ON push_outbox(urgent, next_attempt) WHERE state = 'pending';
CREATE INDEX push_outbox_record ON push_outbox(record_id) WHERE state = 'pending';
CREATE TABLE push_deliveries (
	outbox_id  TEXT NOT NULL REFERENCES push_outbox(id) ON DELETE CASCADE,
	token      TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL, -- sent | unregistered | invalid | retry | failed
	at         INTEGER NOT NULL
);
CREATE INDEX push_deliveries_outbox ON push_deliveries(outbox_id);
CREATE TABLE portal_sessions (
	token_hash BLOB PRIMARY KEY,
	person_id  TEXT NOT NULL REFERENCES people (id),
	csrf       TEXT NOT NULL,
	created    TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	expires    TEXT NOT NULL
);
CREATE INDEX portal_sessions_person ON portal_sessions (person_id);
CREATE TABLE portal_login_attempts (
	email_hash BLOB PRIMARY KEY,
	failures   INTEGER NOT NULL DEFAULT 0,
	first_at   TEXT NOT NULL,
	locked_until TEXT
);
INSERT INTO migrations (n, name, applied_at) VALUES (1, '0001_init.sql', '2026-11-30T00:00:00.000000000Z');
INSERT INTO migrations (n, name, applied_at) VALUES (10, '0010_push (push.Schema)', '2026-11-30T00:00:00.000000000Z');
INSERT INTO migrations (n, name, applied_at) VALUES (20, '0020_portal_sessions.sql', '2026-11-30T00:00:00.000000000Z');
