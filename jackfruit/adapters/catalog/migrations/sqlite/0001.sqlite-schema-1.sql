-- SQLite catalog schema 1 (PRAGMA user_version 1 before the migration tool): datasets, runs, tiles with an
-- R*Tree over their extents, lineage. Kept as history: a new catalog runs every migration in order.
CREATE TABLE datasets (
  name TEXT PRIMARY KEY, source TEXT NOT NULL, request_template TEXT NOT NULL, variables TEXT NOT NULL,
  ext TEXT NOT NULL, description TEXT NOT NULL, schedule TEXT);

CREATE TABLE ingestion_runs (
  run_id TEXT PRIMARY KEY, source TEXT NOT NULL, dataset TEXT NOT NULL REFERENCES datasets(name),
  partition_date TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  created_at INTEGER NOT NULL, raw_key TEXT NOT NULL UNIQUE, started_at INTEGER, finished_at INTEGER,
  failure_reason TEXT, raw_size INTEGER, raw_sha256 TEXT, upstream_job_id TEXT, orchestrator_run_id TEXT,
  details TEXT NOT NULL);

CREATE INDEX runs_newest ON ingestion_runs (created_at DESC, run_id DESC);

CREATE TABLE tiles (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL REFERENCES ingestion_runs(run_id),
  dataset TEXT NOT NULL REFERENCES datasets(name), model TEXT NOT NULL, variable TEXT NOT NULL,
  level_m INTEGER NOT NULL, reference_time INTEGER NOT NULL, valid_start INTEGER NOT NULL,
  valid_end INTEGER NOT NULL, cell_id TEXT NOT NULL, west REAL NOT NULL, south REAL NOT NULL,
  east REAL NOT NULL, north REAL NOT NULL, steps INTEGER NOT NULL, ny INTEGER NOT NULL, nx INTEGER NOT NULL,
  size INTEGER NOT NULL, sha256 TEXT NOT NULL);

CREATE INDEX tiles_by_run ON tiles (run_id);

CREATE VIRTUAL TABLE tiles_rtree USING rtree(id, west, east, south, north);

CREATE TABLE lineage (
  raw_key TEXT NOT NULL, raw_sha256 TEXT NOT NULL, tile_key TEXT NOT NULL REFERENCES tiles(key),
  run_id TEXT NOT NULL REFERENCES ingestion_runs(run_id), transformation TEXT NOT NULL,
  transformation_version TEXT NOT NULL, PRIMARY KEY (raw_key, tile_key));

CREATE INDEX lineage_by_tile ON lineage (tile_key);
