-- Every push rewrites a record's row and each index on records: fewer and
-- smaller indexes are fewer dirty pages per commit (issue 12).
-- records_team_ids (team_id, id) is a prefix of records_team_field (team_id,
-- id, field_at, updated_seq): every range it served, the wider index serves
-- in the same order (pull_plan_test.go holds the snapshot pages to it).
DROP INDEX records_team_ids;
-- Only referrals to a service carry a service_id; the scope that reads by
-- it (a practitioner's: r.service_id = ?) implies it is not NULL, so the
-- index need not hold, nor every push rewrite, an entry for each other
-- record.
DROP INDEX records_service;
CREATE INDEX records_service ON records (service_id, updated_seq) WHERE service_id IS NOT NULL;
