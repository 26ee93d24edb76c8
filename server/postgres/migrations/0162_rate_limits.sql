-- Rate-limit buckets shared by every node (per-device sync requests,
-- enrolment attempts per address). Keys are SHA-256 hashes (an address is
-- never stored). UNLOGGED: not written to the WAL nor replicated; a crash
-- empties it, which only forgives some requests.
CREATE UNLOGGED TABLE rate_buckets (
	key_hash BYTEA PRIMARY KEY,
	tokens   DOUBLE PRECISION NOT NULL,
	at       TIMESTAMPTZ NOT NULL,
	ok       BOOLEAN NOT NULL
);
CREATE INDEX rate_buckets_at ON rate_buckets (at);
