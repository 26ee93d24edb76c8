-- Each person's saved list filters (domain.SavedFilter): a name and the
-- list's query string, never results.
CREATE TABLE saved_filters (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	person_id TEXT NOT NULL REFERENCES people (id),
	list      TEXT NOT NULL,
	name      TEXT NOT NULL,
	query     TEXT NOT NULL,
	created   TEXT NOT NULL,
	UNIQUE (person_id, list, name)
);
