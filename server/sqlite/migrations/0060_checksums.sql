-- CRC-32C of changesets.body and records.state, written with them and checked
-- whenever they are read for a phone: a damaged stored item is skipped and
-- reported, never sent or decoded as if it were sound. NULL: not yet
-- computed (rows from before this migration; filled in at the next start).
ALTER TABLE changesets ADD COLUMN crc INTEGER;
ALTER TABLE records ADD COLUMN crc INTEGER;
