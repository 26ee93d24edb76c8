-- A person's own choice of language for the portal and their notifications
-- ('' = not chosen: the browser's Accept-Language decides).
ALTER TABLE people ADD COLUMN lang TEXT NOT NULL DEFAULT '';
