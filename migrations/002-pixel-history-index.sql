-- GET /api/canvases/:id/pixels/:x/:y asks for the newest change at one
-- pixel (canvas-store `pixelAt`):
--   WHERE canvas = ? AND x = ? AND y = ? ORDER BY seq DESC LIMIT 1
-- Without this index that walks the canvas's whole history backwards: for a
-- pixel never painted, every row. Building it on an existing database reads
-- the log once, at the first boot after the upgrade.
CREATE INDEX change_log_pixel ON change_log (canvas, x, y, seq);

-- Without statistics the planner prefers the primary key (canvas, seq),
-- which also yields seq order, and never uses the index above. So the
-- migration ships fixed statistics (https://sqlite.org/lang_analyze.html,
-- "Fixed Results Of ANALYZE") describing a large log: ten million rows on
-- one canvas, ten thousand per column, ten changes per pixel (the primary
-- key's row says the same table size, unique seq per canvas). A real
-- ANALYZE over a populated log replaces them and picks the index too.
-- `ANALYZE sqlite_schema` creates sqlite_stat1 when missing, then reloads it.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'change_log';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('change_log', 'change_log', '10000000 10000000 1'),
  ('change_log', 'change_log_pixel', '10000000 10000000 10000 10 1');
ANALYZE sqlite_schema;
