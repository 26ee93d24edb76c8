-- SHA-256 of the install id a phone sent with the code that used it: a retry
-- from the same install within ten minutes (its first answer was lost) gets
-- the same device back instead of "code already used" and an orphan device.
ALTER TABLE enrolment_codes ADD COLUMN install_hash BLOB;
