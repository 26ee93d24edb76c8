-- The team rosters' version: phones hold their teams' roster (the active
-- workers and supervisors) and are sent it again only when this changes, so
-- an idle sync reads one row instead of the roster. Triggers bump it on
-- every change to what a roster shows, whoever writes; a sign-in's counters
-- (failed_logins, locked_until, ...) do not.
CREATE TABLE roster_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version BIGINT NOT NULL
);
INSERT INTO roster_version (one, version) VALUES (1, 1);
CREATE FUNCTION roster_version_bump() RETURNS trigger AS $$
BEGIN
	UPDATE roster_version SET version = version + 1;
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER roster_version_people AFTER INSERT OR DELETE OR UPDATE OF name, role, team_id, deactivated ON people
	FOR EACH STATEMENT EXECUTE FUNCTION roster_version_bump();
CREATE TRIGGER roster_version_supervisors AFTER INSERT OR UPDATE OR DELETE ON team_supervisors
	FOR EACH STATEMENT EXECUTE FUNCTION roster_version_bump();
-- A supervisor on the rosters of the teams they supervise: found by team.
CREATE INDEX team_supervisors_team ON team_supervisors (team_id, person_id);
