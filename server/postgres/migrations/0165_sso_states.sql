-- Single sign-on states already spent, kept until they would have expired,
-- so a replayed callback is refused by every node, not only the one that
-- saw it first. Only a SHA-256 hash of the state is stored.
CREATE TABLE sso_states (
	state_hash BYTEA PRIMARY KEY,
	until      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sso_states_until ON sso_states (until);
