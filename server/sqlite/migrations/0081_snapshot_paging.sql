-- A fresh device's snapshot pages through its team's records in id order:
-- this index is that order, so a page reads a range of it and stops at the
-- budget instead of sorting the whole team for every page.
CREATE INDEX records_team_ids ON records (team_id, id);
