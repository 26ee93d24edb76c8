-- Safeguarding concerns that never wait (issue 14), as in the SQLite store:
-- the designated safeguarding lead flag, and the concern alerts the rules
-- open, which stay open until a supervisor acknowledges them with a note.
ALTER TABLE people ADD COLUMN safeguarding_lead BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE concern_alerts (
	id           TEXT PRIMARY KEY,
	encounter_id TEXT NOT NULL,
	team_id      TEXT NOT NULL DEFAULT '',
	level        TEXT NOT NULL CHECK (level IN ('high', 'urgent')),
	raised_at    BIGINT NOT NULL,
	acked_by     TEXT,
	acked_at     BIGINT,
	ack_note     TEXT NOT NULL DEFAULT '',
	CHECK ((acked_by IS NULL) = (acked_at IS NULL))
);
CREATE INDEX concern_alerts_open ON concern_alerts (raised_at) WHERE acked_by IS NULL;
CREATE INDEX concern_alerts_encounter ON concern_alerts (encounter_id);
