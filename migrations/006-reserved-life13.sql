-- Placeholder on branch ops13 only: migration 006 belongs to the canvas
-- lifecycle work (branch life13). The runner needs 1..N without gaps, so 007
-- needs a 006 here. At merge, delete this file in favour of life13's 006.
SELECT 1;
