-- The pixel-history index (002) again, with y before x: (canvas, y, x, seq).
-- Pixels are drawn in rows: a RECT fills row by row, a stroke is local, and
-- a row's consecutive pixels then share index pages. With x first they were
-- one page apart per column: a 500-pixel row segment dirtied ~500 index
-- pages per commit, and commit time grew with the log (a commit of 500
-- pixels, 20 a second: 2 -> 6 ms over 250,000 changes; with y first, ~1 ms
-- throughout). Random pixels cost the same either way. pixelAt's equality
-- lookup (canvas, x, y) uses it just as well; rebuilding it on an existing
-- database reads the log once, at the first boot after the upgrade.
DROP INDEX change_log_pixel;
CREATE INDEX change_log_pixel ON change_log (canvas, y, x, seq);

-- 002's fixed statistics, for the new column order.
DELETE FROM sqlite_stat1 WHERE tbl = 'change_log' AND idx = 'change_log_pixel';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('change_log', 'change_log_pixel', '10000000 10000000 10000 10 1');
ANALYZE sqlite_schema;
