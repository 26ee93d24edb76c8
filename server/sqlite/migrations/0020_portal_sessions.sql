-- Portal sign-in sessions. The cookie holds a random token; only its SHA-256
-- is stored, so a copy of the database cannot be used to sign in. csrf is the
-- per-session token every form must echo back.
CREATE TABLE portal_sessions (
	token_hash BLOB PRIMARY KEY,
	person_id  TEXT NOT NULL REFERENCES people (id),
	csrf       TEXT NOT NULL,
	created    TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	expires    TEXT NOT NULL
);
CREATE INDEX portal_sessions_person ON portal_sessions (person_id);

-- Failed sign-ins per e-mail address, including addresses that match nobody,
-- so guessing accounts is throttled the same way as guessing passwords.
CREATE TABLE portal_login_attempts (
	email_hash BLOB PRIMARY KEY,
	failures   INTEGER NOT NULL DEFAULT 0,
	first_at   TEXT NOT NULL,
	locked_until TEXT
);
