-- The team rosters' version: phones hold their teams' roster (the active
-- workers and supervisors) and are sent it again only when this changes, so
-- an idle sync reads one row instead of the roster. Triggers bump it on
-- every change to what a roster shows, whoever writes; a sign-in's counters
-- (failed_logins, locked_until, ...) do not.
CREATE TABLE roster_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version INTEGER NOT NULL
);
INSERT INTO roster_version (one, version) VALUES (1, 1);
CREATE TRIGGER roster_version_people_insert AFTER INSERT ON people BEGIN
	UPDATE roster_version SET version = version + 1;
END;
CREATE TRIGGER roster_version_people_update AFTER UPDATE OF name, role, team_id, deactivated ON people BEGIN
	UPDATE roster_version SET version = version + 1;
END;
CREATE TRIGGER roster_version_people_delete AFTER DELETE ON people BEGIN
	UPDATE roster_version SET version = version + 1;
END;
CREATE TRIGGER roster_version_supervisors_insert AFTER INSERT ON team_supervisors BEGIN
	UPDATE roster_version SET version = version + 1;
END;
CREATE TRIGGER roster_version_supervisors_update AFTER UPDATE ON team_supervisors BEGIN
	UPDATE roster_version SET version = version + 1;
END;
CREATE TRIGGER roster_version_supervisors_delete AFTER DELETE ON team_supervisors BEGIN
	UPDATE roster_version SET version = version + 1;
END;
-- A supervisor on the rosters of the teams they supervise: found by team.
CREATE INDEX team_supervisors_team ON team_supervisors (team_id, person_id);
