-- SQLite catalog schema 4: tiles per transformation version and "as known at" queries; replaced upstream jobs
-- (jackfruit/domain/currency.py; the Postgres migration 0003 says the same in more words). Runs record the version
-- of their newest transform claim; tiles record their version, publish time and removal time.
-- depends: 0003.sqlite-time-index
ALTER TABLE ingestion_runs ADD COLUMN transform_version TEXT;

-- upstream jobs a run gave up for a newer one (results expired, request resubmitted), JSON list, oldest first
ALTER TABLE ingestion_runs ADD COLUMN replaced_upstream_jobs TEXT NOT NULL DEFAULT '[]';

ALTER TABLE tiles ADD COLUMN transformation_version TEXT NOT NULL DEFAULT '1';

ALTER TABLE tiles ADD COLUMN published_at INTEGER;

ALTER TABLE tiles ADD COLUMN removed_at INTEGER;

UPDATE tiles SET transformation_version = COALESCE(
  (SELECT max(l.transformation_version) FROM lineage l WHERE l.tile_key = tiles.key), '1');

-- tiles published before this schema: the end of their run's publishing attempt, else the run's end
UPDATE tiles SET published_at = COALESCE(
  (SELECT max(json_extract(a.value, '$.ended_at')) FROM ingestion_runs r, json_each(r.attempts) a
   WHERE r.run_id = tiles.run_id AND json_extract(a.value, '$.kind') = 'transform'
     AND json_extract(a.value, '$.outcome') = 'published'),
  (SELECT r.finished_at FROM ingestion_runs r WHERE r.run_id = tiles.run_id),
  (SELECT r.created_at FROM ingestion_runs r WHERE r.run_id = tiles.run_id));

UPDATE ingestion_runs SET transform_version = (
  SELECT max(t.transformation_version) FROM tiles t WHERE t.run_id = ingestion_runs.run_id)
WHERE transform_status = 'published';

-- what decides whether a tile is current (jackfruit/domain/currency.py): a newer run in its slot, a newer version
-- of its own run's product; one index range each
CREATE INDEX tiles_by_slot ON tiles (dataset, model, variable, level_m, reference_time, cell_id, run_id);

CREATE INDEX tiles_by_run_product ON tiles (run_id, model, variable, level_m, reference_time);

CREATE INDEX tiles_not_removed ON tiles (published_at) WHERE removed_at IS NULL;
