-- org_version changes with every write to what the notification rules read
-- of the organisation (people, their supervised teams, services), to a
-- value never seen before (random, so a rolled-back change's value cannot
-- come back for another change). The store keeps the rules' lookups while
-- it is unchanged (rules.go), across transactions: each request read
-- everyone, and each team's supervisors, again.
INSERT INTO meta (key, value) VALUES ('org_version', lower(hex(randomblob(8))));
CREATE TRIGGER org_version_people_insert AFTER INSERT ON people
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_people_update AFTER UPDATE ON people
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_people_delete AFTER DELETE ON people
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_team_supervisors_insert AFTER INSERT ON team_supervisors
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_team_supervisors_update AFTER UPDATE ON team_supervisors
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_team_supervisors_delete AFTER DELETE ON team_supervisors
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_services_insert AFTER INSERT ON services
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_services_update AFTER UPDATE ON services
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
CREATE TRIGGER org_version_services_delete AFTER DELETE ON services
BEGIN UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'org_version'; END;
