-- The teams a person has left (moved to another team, or stopped
-- supervising): an encounter a phone recorded offline before a colleague
-- moved may still name them as present, where anyone else of another team
-- is refused (domain policy, "workers present"). Kept by triggers, whoever
-- moves people.
CREATE TABLE people_past_teams (
	person_id TEXT NOT NULL,
	team_id   TEXT NOT NULL,
	PRIMARY KEY (person_id, team_id)
);
CREATE TRIGGER people_past_teams_moved AFTER UPDATE OF team_id ON people
	WHEN OLD.team_id IS NOT NULL AND OLD.team_id IS NOT NEW.team_id BEGIN
	INSERT OR IGNORE INTO people_past_teams (person_id, team_id) VALUES (OLD.id, OLD.team_id);
END;
CREATE TRIGGER people_past_teams_unsupervised AFTER DELETE ON team_supervisors BEGIN
	INSERT OR IGNORE INTO people_past_teams (person_id, team_id) VALUES (OLD.person_id, OLD.team_id);
END;
