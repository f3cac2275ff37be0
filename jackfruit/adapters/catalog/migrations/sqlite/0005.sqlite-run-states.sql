-- SQLite catalog schema 5: a transformation may end 'failed' (its attempt failed, with the reason, or its lease
-- expired and gc ended it); a failed ingestion may be re-opened to resume its upstream job (docs/runs.md; the
-- rules are jackfruit/domain/runs.py). SQLite cannot alter a CHECK constraint: ingestion_runs is rebuilt with
-- the same columns in the same order (foreign keys are off while the catalog migrates, checked before commit).
-- depends: 0004.sqlite-tile-versions
CREATE TABLE ingestion_runs_v5 (
  run_id TEXT PRIMARY KEY, source TEXT NOT NULL, dataset TEXT NOT NULL REFERENCES datasets(name),
  partition_date TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'quarantined')),
  created_at INTEGER NOT NULL, raw_key TEXT NOT NULL UNIQUE, started_at INTEGER, finished_at INTEGER,
  failure_reason TEXT, raw_size INTEGER, raw_sha256 TEXT, upstream_job_id TEXT, orchestrator_run_id TEXT,
  details TEXT NOT NULL, partition_key TEXT NOT NULL, supersedes TEXT REFERENCES ingestion_runs(run_id),
  transform_status TEXT NOT NULL
    CHECK (transform_status IN ('none', 'transforming', 'published', 'refused', 'failed')),
  transform_reason TEXT, attempts TEXT NOT NULL, transform_version TEXT,
  replaced_upstream_jobs TEXT NOT NULL DEFAULT '[]');

INSERT INTO ingestion_runs_v5 SELECT * FROM ingestion_runs;

DROP TABLE ingestion_runs;

ALTER TABLE ingestion_runs_v5 RENAME TO ingestion_runs;

CREATE INDEX runs_newest ON ingestion_runs (created_at DESC, run_id DESC);

CREATE INDEX runs_by_partition ON ingestion_runs (partition_key);

CREATE INDEX runs_open ON ingestion_runs (status, transform_status);
