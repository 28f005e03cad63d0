-- "Who placed this" with a display name: the pixel API answers `name`
-- beside `user` (the JWT sub). The change log stays as compact as it was
-- (no name per row): one row per painter, keyed by sub, holding the display
-- name of its latest commit (upserted only when it changed, in the commit's
-- transaction). So a pixel shows its painter's current name; rows drawn
-- before this migration, or by subs never named (admin fills), have none
-- and the API falls back to the sub.
CREATE TABLE users (
  sub   TEXT PRIMARY KEY,
  name  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
