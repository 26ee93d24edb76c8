-- Staff accounts and their second factor (SQLite's 0090 and 0091).
--
-- deactivated: when the person left; they keep their row (the audit log and
-- records name them) but cannot sign in.
ALTER TABLE people ADD COLUMN deactivated TIMESTAMPTZ;

-- One-time links to set or reset a password; only the token's SHA-256 is
-- kept, a link is used once (used_at) and dies at expires.
CREATE TABLE password_tokens (
	token_hash BYTEA PRIMARY KEY,
	person_id  TEXT NOT NULL REFERENCES people (id),
	purpose    TEXT NOT NULL CHECK (purpose IN ('set', 'reset')),
	created_by TEXT NOT NULL,
	created    TIMESTAMPTZ NOT NULL,
	expires    TIMESTAMPTZ NOT NULL,
	used_at    TIMESTAMPTZ
);
CREATE INDEX password_tokens_person ON password_tokens (person_id);

-- TOTP (RFC 6238): the key, and the last accepted time step, so a code is
-- accepted once even when two nodes receive it at the same moment (the
-- update is conditional on the step, under the row's lock).
ALTER TABLE people ADD COLUMN totp_secret TEXT;
ALTER TABLE people ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
	person_id TEXT NOT NULL REFERENCES people (id),
	code_hash BYTEA NOT NULL,
	used_at   TIMESTAMPTZ,
	PRIMARY KEY (person_id, code_hash)
);

-- A session's stage: '' signed in; 'totp' or 'enrol' waiting for the second factor.
ALTER TABLE portal_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT '';

-- Young-person transfers between teams (SQLite's 0052); at most one pending
-- per young person, which the unique index holds across nodes.
CREATE TABLE transfers (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	young_person_id TEXT NOT NULL,
	from_team       TEXT NOT NULL REFERENCES teams (id),
	to_team         TEXT NOT NULL REFERENCES teams (id),
	status          TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
	reason          TEXT NOT NULL DEFAULT '',
	requested_by    TEXT NOT NULL,
	requested_at    TIMESTAMPTZ NOT NULL,
	decided_by      TEXT,
	decided_at      TIMESTAMPTZ,
	CHECK (from_team <> to_team)
);
CREATE UNIQUE INDEX transfers_one_pending ON transfers (young_person_id) WHERE status = 'pending';
CREATE INDEX transfers_to ON transfers (to_team, status);
CREATE INDEX transfers_from ON transfers (from_team, status);
