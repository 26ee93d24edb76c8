-- Two-factor sign-in (TOTP, RFC 6238) for staff.
--
-- totp_secret: the person's TOTP key (base32), set when they enrol.
-- totp_last_step: the last time step whose code was accepted, so a code seen
-- over someone's shoulder cannot be used again within its 30 seconds.
ALTER TABLE people ADD COLUMN totp_secret TEXT;
ALTER TABLE people ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- One-time recovery codes (SHA-256 only), for a lost phone.
CREATE TABLE recovery_codes (
	person_id TEXT NOT NULL REFERENCES people (id),
	code_hash BLOB NOT NULL,
	used_at   TEXT,
	PRIMARY KEY (person_id, code_hash)
) WITHOUT ROWID;

-- A session's stage: '' signed in; 'totp' password checked, code still to
-- give; 'enrol' password checked, must enrol a second factor first. Only ''
-- sessions reach the portal.
ALTER TABLE portal_sessions ADD COLUMN stage TEXT NOT NULL DEFAULT '';
