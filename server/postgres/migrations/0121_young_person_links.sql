-- A young person's history on demand: which encounters name them (an
-- encounter's young_people set lives in its state). Filled lazily by the
-- fetch path from the records changed since links_through, so no write
-- path pays for it and a history costs what it returns.
CREATE TABLE young_person_links (
	young_person_id TEXT NOT NULL,
	record_id       TEXT NOT NULL,
	PRIMARY KEY (young_person_id, record_id)
);
CREATE INDEX young_person_links_record ON young_person_links (record_id);
CREATE TABLE young_person_links_through (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	seq BIGINT NOT NULL
);
INSERT INTO young_person_links_through (one, seq) VALUES (1, 0);
