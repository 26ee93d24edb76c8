-- A phone's first sync carries the field subset of its team (domain.FieldAt):
-- each record is filed with the unix second from which it stops being of use
-- in the field unless opened. NULL (rows stored before this migration) counts
-- as always: such a record is sent, never silently left off a phone.
ALTER TABLE records ADD COLUMN field_at BIGINT;
-- The subset is read in id order per team from this index alone.
CREATE INDEX records_team_field ON records (team_id, id, field_at, updated_seq);

-- The service directory's version: phones hold a copy and are sent it again
-- only when this changes. A trigger bumps it on every change, whoever writes.
CREATE TABLE directory_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version BIGINT NOT NULL
);
INSERT INTO directory_version (one, version) VALUES (1, 1);
CREATE FUNCTION directory_version_bump() RETURNS trigger AS $$
BEGIN
	UPDATE directory_version SET version = version + 1;
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER directory_version_bump AFTER INSERT OR UPDATE OR DELETE ON services
	FOR EACH STATEMENT EXECUTE FUNCTION directory_version_bump();
