-- Canvas lifecycle and live settings (issue 13).
--
-- frozen: a frozen canvas refuses every non-admin draw (FROZEN).
-- palette: NULL (any colour) or a JSON array of "#rrggbb" strings, the only
--   colours a draw may use (BAD_COLOR otherwise).
-- epoch_seq: the seq the current epoch began at. A reset keeps numbering
--   after the old epoch (seqs of a canvas never repeat, so (canvas, seq)
--   names one change forever and the old epoch's log stays as history) and
--   stores a blank snapshot at epoch_seq; the current picture is that
--   snapshot plus the changes after it. Only changes after epoch_seq belong
--   to the current epoch (the pixel API, reverts).
ALTER TABLE canvases ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1));
ALTER TABLE canvases ADD COLUMN palette TEXT;
ALTER TABLE canvases ADD COLUMN epoch_seq INTEGER NOT NULL DEFAULT 0;
-- deleted: the canvas is gone for everyone (not listed, not loaded) while its
-- change log is purged in small steps in the background (one statement for
-- a million changes held the event loop ~20 s); the row goes last. A purge
-- cut short by a restart resumes at boot.
ALTER TABLE canvases ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));

-- Live settings (PATCH /api/admin/settings): one row per setting an admin
-- changed, value as JSON. A row wins over the environment's default; no row:
-- the environment's value.
CREATE TABLE settings (
  name        TEXT PRIMARY KEY,
  value       TEXT NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
