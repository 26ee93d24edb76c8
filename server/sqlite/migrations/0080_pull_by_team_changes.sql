-- An incremental pull starts from the records of the device's scope changed
-- since its cursor (team, then change position, then the record id to reach
-- changeset_records by its key) instead of walking every changeset the whole
-- organisation wrote since the cursor. The covering index replaces
-- records_team (same leading columns). records_changes serves the scopes that
-- see every team (admin, the server's own replica) the same way.
CREATE INDEX records_team_changes ON records (team_id, updated_seq, id);
DROP INDEX records_team;
CREATE INDEX records_changes ON records (updated_seq, id);
