-- Pull finds where each moved record was before the device's cursor (the
-- first scope event after it), to name in drop only records the device had.
CREATE INDEX scope_events_record ON scope_events (record_id, seq);
