-- SQLite catalog schema 2 (PRAGMA user_version 2 before the migration tool): the run model of docs/runs.md.
-- Rebuilds ingestion_runs with partition key, quarantined status, transform state and attempts. Old runs get
-- their partition key from jackfruit_partition_key() (the domain's partition_key, registered on the connection
-- by the catalog), transform_status 'published' when they have tiles, and no attempts. Runs with foreign keys
-- off (the catalog turns them off while it migrates, and checks them before it commits).
-- depends: 0001.sqlite-schema-1
CREATE TABLE ingestion_runs_v2 (
  run_id TEXT PRIMARY KEY, source TEXT NOT NULL, dataset TEXT NOT NULL REFERENCES datasets(name),
  partition_date TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'quarantined')),
  created_at INTEGER NOT NULL, raw_key TEXT NOT NULL UNIQUE, started_at INTEGER, finished_at INTEGER,
  failure_reason TEXT, raw_size INTEGER, raw_sha256 TEXT, upstream_job_id TEXT, orchestrator_run_id TEXT,
  details TEXT NOT NULL, partition_key TEXT NOT NULL, supersedes TEXT REFERENCES ingestion_runs(run_id),
  transform_status TEXT NOT NULL
    CHECK (transform_status IN ('none', 'transforming', 'published', 'refused')),
  transform_reason TEXT, attempts TEXT NOT NULL);

INSERT INTO ingestion_runs_v2 (
  run_id, source, dataset, partition_date, request, status, created_at, raw_key, started_at, finished_at,
  failure_reason, raw_size, raw_sha256, upstream_job_id, orchestrator_run_id, details, partition_key, supersedes,
  transform_status, transform_reason, attempts)
SELECT run_id, source, dataset, partition_date, request, status, created_at, raw_key, started_at, finished_at,
       failure_reason, raw_size, raw_sha256, upstream_job_id, orchestrator_run_id, details,
       jackfruit_partition_key(dataset, partition_date, request), NULL,
       CASE WHEN EXISTS (SELECT 1 FROM tiles t WHERE t.run_id = ingestion_runs.run_id) THEN 'published'
            ELSE 'none' END,
       NULL, '[]'
FROM ingestion_runs;

DROP TABLE ingestion_runs;

ALTER TABLE ingestion_runs_v2 RENAME TO ingestion_runs;

CREATE INDEX runs_newest ON ingestion_runs (created_at DESC, run_id DESC);

CREATE INDEX runs_by_partition ON ingestion_runs (partition_key);

CREATE INDEX runs_open ON ingestion_runs (status, transform_status);
