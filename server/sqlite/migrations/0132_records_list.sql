-- The portal's lists read a type's records in a scope, with the version of
-- each (updated_seq, crc) to skip decoding what they decoded before
-- (recordcache.go): covered by this index, without reading the states.
CREATE INDEX records_list ON records (type, team_id, id, updated_seq, crc);
