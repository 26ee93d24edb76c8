-- Each person's saved list filters (domain.SavedFilter), as in SQLite.
CREATE TABLE saved_filters (
	id        BIGSERIAL PRIMARY KEY,
	person_id TEXT NOT NULL REFERENCES people (id),
	list      TEXT NOT NULL,
	name      TEXT NOT NULL,
	query     TEXT NOT NULL,
	created   TIMESTAMPTZ NOT NULL,
	UNIQUE (person_id, list, name)
);
