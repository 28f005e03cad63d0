-- "Who placed this" with the name the painter had AT THE TIME (issue 14):
-- 004 keeps only a sub's latest name, so a rename showed on every pixel the
-- painter ever drew. Each distinct (sub, display name) pair is stored once
-- here, interned: a change-log row carries its small integer id, not the
-- name, so the log stays about as compact as it was (one more integer per
-- row) and a commit writes a painter_names row only the first time a pair
-- is seen (canvas-store keeps the ids it knows in memory).
--
-- Rows drawn before this migration, and rows whose painter had no name
-- (admin fills), have name_id NULL: the pixel API then falls back to the
-- sub's latest name in users (004), as before, or to none.
CREATE TABLE painter_names (
  id    INTEGER PRIMARY KEY,
  sub   TEXT NOT NULL,
  name  TEXT NOT NULL,
  UNIQUE (sub, name)
) STRICT;

-- Added, not rebuilt: ALTER TABLE ... ADD COLUMN leaves the existing rows
-- as they are (NULL), so the upgrade costs nothing on a large log. The
-- reference is checked on insert (an id lookup by primary key, measured
-- at ~30 ns a row), never on delete: names are never deleted.
ALTER TABLE change_log ADD COLUMN name_id INTEGER REFERENCES painter_names (id);
