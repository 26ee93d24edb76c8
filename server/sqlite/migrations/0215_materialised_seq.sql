-- The write-behind watermark (behind.go): every changeset logged up to
-- this sequence has its records stored, indexed and settled by the rules.
-- Past it, a changeset may have waited in the write-behind set of a
-- process that stopped without writing it: Open applies the log past it
-- again. Everything logged before this migration is stored.
INSERT INTO meta (key, value) SELECT 'materialised_seq', CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM changesets;
