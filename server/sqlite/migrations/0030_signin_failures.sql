-- Failed staff sign-ins (portal and API alike), per account name and client
-- address, both stored as hashes: the account name is the e-mail address
-- typed, whether or not anyone has it, so throttling does not tell which
-- addresses exist. The client key "all" (sqlite.allClients) holds an account
-- name's total over every client.
CREATE TABLE signin_failures (
	account  BLOB NOT NULL,
	client   BLOB NOT NULL,
	failures INTEGER NOT NULL,
	last_at  TEXT NOT NULL,
	PRIMARY KEY (account, client)
) WITHOUT ROWID;
CREATE INDEX signin_failures_last ON signin_failures (last_at);

-- The portal's own per-address lockout, replaced by the table above.
DROP TABLE IF EXISTS portal_login_attempts;
