-- Staff accounts for a real deployment (issue 13).
--
-- deactivated: when the person left. A deactivated person keeps their row
-- (the audit log and records name them) but cannot sign in, and their
-- devices and sessions were ended in the same transaction.
ALTER TABLE people ADD COLUMN deactivated TEXT;

-- One-time links to set or reset a password, issued by an admin (or by
-- `joinedup admin create`). Only the SHA-256 of the token is kept; a link is
-- used once (used_at) and dies at expires.
CREATE TABLE password_tokens (
	token_hash BLOB PRIMARY KEY,
	person_id  TEXT NOT NULL REFERENCES people (id),
	purpose    TEXT NOT NULL CHECK (purpose IN ('set', 'reset')),
	created_by TEXT NOT NULL,
	created    TEXT NOT NULL,
	expires    TEXT NOT NULL,
	used_at    TEXT
) WITHOUT ROWID;
CREATE INDEX password_tokens_person ON password_tokens (person_id);
