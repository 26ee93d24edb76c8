-- Explicit young-person transfers between teams (see domain.Transfer). At
-- most one pending transfer per young person.
CREATE TABLE transfers (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	young_person_id TEXT NOT NULL,
	from_team       TEXT NOT NULL REFERENCES teams (id),
	to_team         TEXT NOT NULL REFERENCES teams (id),
	status          TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
	reason          TEXT NOT NULL DEFAULT '',
	requested_by    TEXT NOT NULL,
	requested_at    TEXT NOT NULL,
	decided_by      TEXT,
	decided_at      TEXT,
	CHECK (from_team <> to_team)
);
CREATE UNIQUE INDEX transfers_one_pending ON transfers (young_person_id) WHERE status = 'pending';
CREATE INDEX transfers_to ON transfers (to_team, status);
CREATE INDEX transfers_from ON transfers (from_team, status);
