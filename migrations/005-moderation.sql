-- Moderation (issue 13): bans, region locks, the audit log of admin actions.
-- Revert needs no table of its own: it scans change_log by its primary key
-- (src/persistence/canvas-store.ts revertSlice), so commits pay nothing for it.

-- One row per banned user (JWT sub). `until` is ms since the epoch, NULL
-- for a ban without end; an expired row is not a ban (every read compares
-- with now) and is pruned at the next ban. `ip` is the guest's address at
-- ban time (NULL for other users, or when none is known): new guest tokens
-- are refused to it while the ban lasts.
CREATE TABLE bans (
  user    TEXT PRIMARY KEY,
  reason  TEXT,
  by      TEXT NOT NULL,
  at      INTEGER NOT NULL,
  until   INTEGER,
  ip      TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX bans_ip ON bans (ip) WHERE ip IS NOT NULL;

-- The address each guest sub was last issued (or renewed) a token from, so
-- a ban of a guest can name its IP. Pruned by age at every insert: only
-- guests whose token may still be alive are kept.
CREATE TABLE guest_ips (
  sub  TEXT PRIMARY KEY,
  ip   TEXT NOT NULL,
  at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX guest_ips_at ON guest_ips (at);

-- Locked rectangles of a canvas; gone with their canvas. AUTOINCREMENT:
-- a lifted lock's id is never given to a new one, so a stale DELETE cannot
-- lift a lock it did not mean.
CREATE TABLE locks (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  canvas  TEXT NOT NULL REFERENCES canvases (id) ON DELETE CASCADE,
  x       INTEGER NOT NULL,
  y       INTEGER NOT NULL,
  w       INTEGER NOT NULL,
  h       INTEGER NOT NULL,
  reason  TEXT,
  by      TEXT NOT NULL,
  at      INTEGER NOT NULL
) STRICT;
CREATE INDEX locks_canvas ON locks (canvas);

-- Every admin write: who, when, what, with what result. Bounded by count
-- and age (AUDIT_MAX_ENTRIES, AUDIT_MAX_AGE_DAYS), pruned at insert.
-- `body` is a bounded summary of the request body (JSON, cut).
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      INTEGER NOT NULL,
  admin   TEXT NOT NULL,
  method  TEXT NOT NULL,
  route   TEXT NOT NULL,
  url     TEXT NOT NULL,
  params  TEXT NOT NULL,
  body    TEXT,
  status  INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_at ON audit (at);
