-- The organisation's version: a new value, never seen before, on every
-- change to what the notification rules and the policy read of the
-- organisation (people, their supervised teams, services), whoever writes
-- it, on any node. Each node keeps those lookups across transactions while
-- the version it reads stands (orgfacts.go): each push request read the
-- same people, supervisors and services again. A random value, so a
-- number a rolled-back change drew can never stand for another change.
CREATE TABLE org_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version TEXT NOT NULL
);
INSERT INTO org_version (one, version) VALUES (1, gen_random_uuid()::text);
CREATE FUNCTION org_version_bump() RETURNS trigger AS $$
BEGIN
	UPDATE org_version SET version = gen_random_uuid()::text;
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER org_version_people AFTER INSERT OR UPDATE OR DELETE ON people
	FOR EACH STATEMENT EXECUTE FUNCTION org_version_bump();
CREATE TRIGGER org_version_supervisors AFTER INSERT OR UPDATE OR DELETE ON team_supervisors
	FOR EACH STATEMENT EXECUTE FUNCTION org_version_bump();
CREATE TRIGGER org_version_services AFTER INSERT OR UPDATE OR DELETE ON services
	FOR EACH STATEMENT EXECUTE FUNCTION org_version_bump();
