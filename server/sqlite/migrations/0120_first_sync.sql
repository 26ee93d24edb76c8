-- A phone's first sync carries the field subset of its team (domain.FieldAt):
-- each record is filed with the unix second from which it stops being of use
-- in the field unless opened. NULL (rows stored before this migration) counts
-- as always: such a record is sent, never silently left off a phone.
ALTER TABLE records ADD COLUMN field_at INTEGER;
-- The subset (and the rest of it, paged later) is read in id order per team
-- from this index alone; a record's row (its state) is read only when it is
-- sent.
CREATE INDEX records_team_field ON records (team_id, id, field_at, updated_seq);

-- The service directory's version: phones hold a copy and are sent it again
-- only when this changes. Triggers bump it on every change, whoever writes.
CREATE TABLE directory_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version INTEGER NOT NULL
);
INSERT INTO directory_version (one, version) VALUES (1, 1);
CREATE TRIGGER directory_version_insert AFTER INSERT ON services BEGIN
	UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_version_update AFTER UPDATE ON services BEGIN
	UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER directory_version_delete AFTER DELETE ON services BEGIN
	UPDATE directory_version SET version = version + 1;
END;
