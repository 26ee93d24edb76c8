-- What each held changeset (code missing_dependency) waits for: changes of
-- replica_id to record_id ('*': any change). When a changeset of that
-- replica touching that record is stored, only the items waiting for it are
-- tried again, instead of every held item of every device.
CREATE TABLE held_waits (
	record_id     TEXT NOT NULL,
	replica_id    TEXT NOT NULL,
	quarantine_id BIGINT NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
	PRIMARY KEY (record_id, replica_id, quarantine_id)
);
CREATE INDEX held_waits_item ON held_waits (quarantine_id);
-- Items held before this table existed wait for anything: the next stored
-- changeset tries each of them once, which indexes it.
INSERT INTO held_waits (record_id, replica_id, quarantine_id)
	SELECT '*', '*', id FROM quarantine WHERE reviewed_at IS NULL AND code = 'missing_dependency';
