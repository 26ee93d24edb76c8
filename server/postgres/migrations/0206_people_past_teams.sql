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
CREATE FUNCTION people_past_teams_moved() RETURNS trigger AS $$
BEGIN
	IF OLD.team_id IS NOT NULL AND OLD.team_id IS DISTINCT FROM NEW.team_id THEN
		INSERT INTO people_past_teams (person_id, team_id) VALUES (OLD.id, OLD.team_id) ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER people_past_teams_moved AFTER UPDATE OF team_id ON people
	FOR EACH ROW EXECUTE FUNCTION people_past_teams_moved();
CREATE FUNCTION people_past_teams_unsupervised() RETURNS trigger AS $$
BEGIN
	INSERT INTO people_past_teams (person_id, team_id) VALUES (OLD.person_id, OLD.team_id) ON CONFLICT DO NOTHING;
	RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER people_past_teams_unsupervised AFTER DELETE ON team_supervisors
	FOR EACH ROW EXECUTE FUNCTION people_past_teams_unsupervised();
