-- Who may decide a quarantined save is decided as of now (domain.
-- AuthorizeDiscard), so its list cannot rest on quarantine.teams, the teams
-- its records were filed under when it was refused: a young person moved
-- away since would leave the item listed to a team with no say over it, and
-- unlisted to the team that now holds them. refs are the records an item
-- writes and the ones that file them (young_person_id, referral_id values
-- it sets), written with the item; the list joins them to where those
-- records are filed now to find its candidates, and decides each with the
-- same rule as a discard. Items refused before this migration are given
-- theirs once, below.
CREATE TABLE quarantine_refs (
	quarantine_id INTEGER NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
	record_id     TEXT NOT NULL,
	PRIMARY KEY (quarantine_id, record_id)
) WITHOUT ROWID;
-- Items refused before this migration get their refs at the next Open
-- (backfillQuarantineRefs: the bodies are decoded in Go); the marker stays
-- until that is done.
CREATE TABLE quarantine_refs_backfill (pending INTEGER NOT NULL);
INSERT INTO quarantine_refs_backfill (pending) VALUES (1);
