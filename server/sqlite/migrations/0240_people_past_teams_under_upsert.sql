-- The triggers of 0206 wrote with INSERT OR IGNORE, but a trigger's
-- statements take the outer statement's conflict handling: under
-- UpsertPerson's upsert, moving someone away from a team they had left
-- before hit the primary key and failed the whole edit (reported as "email
-- already in use"). They now insert only what is not there.
DROP TRIGGER people_past_teams_moved;
DROP TRIGGER people_past_teams_unsupervised;
CREATE TRIGGER people_past_teams_moved AFTER UPDATE OF team_id ON people
	WHEN OLD.team_id IS NOT NULL AND OLD.team_id IS NOT NEW.team_id BEGIN
	INSERT INTO people_past_teams (person_id, team_id) SELECT OLD.id, OLD.team_id
		WHERE NOT EXISTS (SELECT 1 FROM people_past_teams WHERE person_id = OLD.id AND team_id = OLD.team_id);
END;
CREATE TRIGGER people_past_teams_unsupervised AFTER DELETE ON team_supervisors BEGIN
	INSERT INTO people_past_teams (person_id, team_id) SELECT OLD.person_id, OLD.team_id
		WHERE NOT EXISTS (SELECT 1 FROM people_past_teams WHERE person_id = OLD.person_id AND team_id = OLD.team_id);
END;
