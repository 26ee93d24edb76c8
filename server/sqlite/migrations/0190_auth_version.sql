-- A counter that moves whenever anything a device's authentication answers
-- with may have changed: its row (except the bookkeeping every sync
-- writes), its person, the teams that person supervises. The server keeps
-- authenticated devices in memory (authcache.go) only while it has not
-- moved, so a revocation, a move or a re-enrolment written by any process
-- (the portal, the admin CLI on the same file) takes effect at the next
-- request.
CREATE TABLE auth_version (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	v   INTEGER NOT NULL
);
INSERT INTO auth_version (one, v) VALUES (1, 0);

CREATE TRIGGER auth_version_device_insert AFTER INSERT ON devices BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_device_delete AFTER DELETE ON devices BEGIN
	UPDATE auth_version SET v = v + 1;
END;
-- Every column but last_seen, last_sync_at, last_cursor and
-- pending_reported, which each sync writes.
CREATE TRIGGER auth_version_device_update AFTER UPDATE OF id, person_id, replica_id, platform, credential_hash, status,
	wipe_requested, wiped_at, revoked_by, revoked_at, created, served_scope ON devices BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_person_insert AFTER INSERT ON people BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_person_update AFTER UPDATE ON people BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_person_delete AFTER DELETE ON people BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_supervisor_insert AFTER INSERT ON team_supervisors BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_supervisor_update AFTER UPDATE ON team_supervisors BEGIN
	UPDATE auth_version SET v = v + 1;
END;
CREATE TRIGGER auth_version_supervisor_delete AFTER DELETE ON team_supervisors BEGIN
	UPDATE auth_version SET v = v + 1;
END;
