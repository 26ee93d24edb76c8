-- Quarantine is keyed by (device, replica, start): a device that forges
-- another phone's replica id can no longer store its body under that
-- phone's key. person_id is who pushed it (the device's owner), so lists
-- can be scoped to a reviewer's teams without reading devices; teams lists
-- (space-separated, with a space either side) the teams the records it
-- touches were filed under when it was refused, so the supervisors of those
-- teams see attempts to write into them. Bodies over
-- the stored bound are not kept (body NULL): their size and SHA-256 digest are.
CREATE TABLE quarantine_v2 (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	device_id   TEXT NOT NULL DEFAULT '',
	person_id   TEXT NOT NULL DEFAULT '',
	teams       TEXT NOT NULL DEFAULT '',
	replica_id  TEXT NOT NULL,
	start       INTEGER NOT NULL,
	code        TEXT NOT NULL,
	message     TEXT NOT NULL,
	body        BLOB,
	body_size   INTEGER NOT NULL DEFAULT 0,
	body_digest BLOB,
	created     TEXT NOT NULL,
	reviewed_by TEXT,
	reviewed_at TEXT,
	resolution  TEXT,
	UNIQUE (device_id, replica_id, start)
);
INSERT INTO quarantine_v2 (id, device_id, person_id, replica_id, start, code, message, body, body_size, body_digest, created, reviewed_by, reviewed_at, resolution)
	SELECT q.id, COALESCE(q.device_id, ''), COALESCE((SELECT d.person_id FROM devices d WHERE d.id = q.device_id), ''),
		q.replica_id, q.start, q.code, q.message, q.body, length(q.body), NULL, q.created, q.reviewed_by, q.reviewed_at, q.resolution
	FROM quarantine q;
DROP TABLE quarantine;
ALTER TABLE quarantine_v2 RENAME TO quarantine;
CREATE INDEX quarantine_open ON quarantine (reviewed_at);
-- Per-device bounds and the reviewer's list read open items by device / person.
CREATE INDEX quarantine_device_open ON quarantine (device_id, code) WHERE reviewed_at IS NULL;
CREATE INDEX quarantine_person_open ON quarantine (person_id) WHERE reviewed_at IS NULL;

-- What each held changeset (code missing_dependency) waits for: changes of
-- replica_id to record_id. When a changeset of that replica touching that
-- record is stored, only the items waiting for it are tried again.
CREATE TABLE held_waits (
	record_id     TEXT NOT NULL,
	replica_id    TEXT NOT NULL,
	quarantine_id INTEGER NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
	PRIMARY KEY (record_id, replica_id, quarantine_id)
) WITHOUT ROWID;
CREATE INDEX held_waits_item ON held_waits (quarantine_id);
-- Items held before this table existed wait for "anything" ('*', '*'):
-- the next stored changeset tries each of them once, which indexes it.
INSERT INTO held_waits (record_id, replica_id, quarantine_id)
	SELECT '*', '*', id FROM quarantine WHERE reviewed_at IS NULL AND code = 'missing_dependency' AND body IS NOT NULL;
