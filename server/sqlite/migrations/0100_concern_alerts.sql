-- Safeguarding concerns that never wait (issue 14). A designated
-- safeguarding lead is a flag on a person: they are told of every high or
-- urgent concern, whatever their team.
ALTER TABLE people ADD COLUMN safeguarding_lead INTEGER NOT NULL DEFAULT 0;

-- One row per encounter and level the notification rules raised, written in
-- the transaction that stored the change (an intent, like the outbox rows).
-- It stays open (acked_by NULL) until a supervisor acknowledges it with a
-- note; acknowledging cancels its pending escalation in the same transaction.
-- Server-kept, never synced: a phone cannot acknowledge its own alert.
CREATE TABLE concern_alerts (
	id           TEXT PRIMARY KEY,
	encounter_id TEXT NOT NULL,
	team_id      TEXT NOT NULL DEFAULT '',
	level        TEXT NOT NULL CHECK (level IN ('high', 'urgent')),
	raised_at    INTEGER NOT NULL,
	acked_by     TEXT,
	acked_at     INTEGER,
	ack_note     TEXT NOT NULL DEFAULT '',
	CHECK ((acked_by IS NULL) = (acked_at IS NULL))
);
CREATE INDEX concern_alerts_open ON concern_alerts (raised_at) WHERE acked_by IS NULL;
CREATE INDEX concern_alerts_encounter ON concern_alerts (encounter_id);
