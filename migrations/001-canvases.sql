-- Canvases, their append-only change log, and periodic snapshots.
-- Invariant: canvases.seq = max(change_log.seq) for that canvas, both written
-- in the same transaction (one per broadcast tick).
CREATE TABLE canvases (
  id          TEXT PRIMARY KEY,
  width       INTEGER NOT NULL CHECK (width BETWEEN 1 AND 65535),
  height      INTEGER NOT NULL CHECK (height BETWEEN 1 AND 65535),
  epoch       TEXT NOT NULL,
  seq         INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL
) STRICT;

-- One row per applied pixel, in seq order. color is 0xRRGGBB.
CREATE TABLE change_log (
  canvas  TEXT NOT NULL REFERENCES canvases (id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,
  x       INTEGER NOT NULL,
  y       INTEGER NOT NULL,
  color   INTEGER NOT NULL,
  user    TEXT NOT NULL,
  at      INTEGER NOT NULL,
  PRIMARY KEY (canvas, seq)
) STRICT, WITHOUT ROWID;

-- zlib-deflated raw RGB rows of the canvas at seq; boot loads the newest and
-- replays the log after it.
CREATE TABLE snapshots (
  canvas  TEXT NOT NULL REFERENCES canvases (id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,
  pixels  BLOB NOT NULL,
  at      INTEGER NOT NULL,
  PRIMARY KEY (canvas, seq)
) STRICT;
