-- jackfruit catalog on PostgreSQL + PostGIS, schema 1: datasets, partitions, ingestion runs with their attempts
-- (the run model of docs/runs.md), tiles with a GiST index for the serving query, lineage.
--
-- Text that names or orders things is COLLATE "C" (code-point order, as SQLite and Python sort), JSON is `json`
-- (kept verbatim, so a value reads back exactly as written), times are timestamptz (microseconds, UTC).
-- The status machines live in run_transitions and are enforced by the ingestion_runs_guard trigger beside the
-- domain's check (jackfruit/domain/runs.py); the catalog refuses to start when that table and the domain's
-- NEXT_STATUS / NEXT_TRANSFORM disagree.
-- Extensions: IF NOT EXISTS works for a role without the right to create them once a superuser has done so.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE datasets (
  name text COLLATE "C" PRIMARY KEY,
  source text COLLATE "C" NOT NULL,
  request_template json NOT NULL,
  variables json NOT NULL,
  ext text COLLATE "C" NOT NULL,
  description text NOT NULL,
  schedule text
);

-- One row per partition (dataset, day, canonical request): the row a claim locks (SELECT ... FOR UPDATE), so
-- two claimants of one partition are serialised even when it has no run yet.
CREATE TABLE partitions (
  partition_key text COLLATE "C" PRIMARY KEY CHECK (partition_key ~ '^[0-9a-f]{64}$'),
  dataset text COLLATE "C" NOT NULL REFERENCES datasets(name),
  partition_date date NOT NULL
);

CREATE TABLE ingestion_runs (
  run_id text COLLATE "C" PRIMARY KEY
    CHECK (run_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'),
  source text COLLATE "C" NOT NULL,
  dataset text COLLATE "C" NOT NULL REFERENCES datasets(name),
  partition_date date NOT NULL,
  request json NOT NULL,
  status text COLLATE "C" NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'quarantined')),
  created_at timestamptz NOT NULL,
  raw_key text COLLATE "C" NOT NULL UNIQUE,
  started_at timestamptz,
  finished_at timestamptz,
  failure_reason text,
  raw_size bigint,
  raw_sha256 text COLLATE "C",
  upstream_job_id text COLLATE "C",  -- the ADS job id
  orchestrator_run_id text COLLATE "C",
  details json NOT NULL,
  partition_key text COLLATE "C" NOT NULL REFERENCES partitions(partition_key),
  supersedes text COLLATE "C" REFERENCES ingestion_runs(run_id),
  transform_status text COLLATE "C" NOT NULL
    CHECK (transform_status IN ('none', 'transforming', 'published', 'refused')),
  transform_reason text
);

CREATE INDEX runs_newest ON ingestion_runs (created_at DESC, run_id DESC);

CREATE INDEX runs_by_dataset ON ingestion_runs (dataset, created_at DESC, run_id DESC);

CREATE INDEX runs_by_partition ON ingestion_runs (partition_key);

-- what revoke / reap visit
CREATE INDEX runs_open ON ingestion_runs (run_id)
  WHERE status IN ('pending', 'running') OR transform_status = 'transforming';

-- a partition has at most one open run: a claim takes it over instead of adding another
CREATE UNIQUE INDEX runs_one_open_per_partition ON ingestion_runs (partition_key)
  WHERE status IN ('pending', 'running');

-- Attempts (claims with fenced leases), oldest first per run: seq is the position in IngestionRun.attempts.
CREATE TABLE attempts (
  run_id text COLLATE "C" NOT NULL REFERENCES ingestion_runs(run_id),
  seq integer NOT NULL CHECK (seq >= 0),
  attempt_id text COLLATE "C" NOT NULL
    CHECK (attempt_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'),
  kind text COLLATE "C" NOT NULL CHECK (kind IN ('ingest', 'transform')),
  epoch bigint NOT NULL CHECK (epoch >= 1),
  owner text NOT NULL,
  started_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  ended_at timestamptz,
  outcome text,
  PRIMARY KEY (run_id, seq),
  -- one holder per epoch: two claimants can never both take over with the same epoch
  UNIQUE (run_id, kind, epoch)
);

CREATE INDEX attempts_by_id ON attempts (attempt_id);

CREATE INDEX attempts_open ON attempts (expires_at) WHERE ended_at IS NULL;

CREATE TABLE tiles (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text COLLATE "C" NOT NULL UNIQUE,
  run_id text COLLATE "C" NOT NULL REFERENCES ingestion_runs(run_id),
  dataset text COLLATE "C" NOT NULL REFERENCES datasets(name),
  model text COLLATE "C" NOT NULL,
  variable text COLLATE "C" NOT NULL,
  level_m bigint NOT NULL,
  reference_time timestamptz NOT NULL,
  -- valid times, both ends included (Tile.valid_start .. Tile.valid_end)
  valid tstzrange NOT NULL
    CHECK (lower_inc(valid) AND upper_inc(valid) AND NOT lower_inf(valid) AND NOT upper_inf(valid)),
  cell_id text COLLATE "C" NOT NULL,
  -- the extent (Tile.bbox) exactly, as float64; `extent` is the same box as a polygon for the GiST index
  west double precision NOT NULL,
  south double precision NOT NULL,
  east double precision NOT NULL,
  north double precision NOT NULL,
  extent geometry(Polygon, 4326) GENERATED ALWAYS AS (ST_MakeEnvelope(west, south, east, north, 4326)) STORED,
  steps bigint NOT NULL,
  ny bigint NOT NULL,
  nx bigint NOT NULL,
  size bigint NOT NULL,
  sha256 text COLLATE "C" NOT NULL,
  transformation_version text COLLATE "C",  -- from the publish's lineage edge of the tile, when it has one
  CHECK (west <= east AND south <= north),
  -- re-running a transformation can never add a second tile for the same slot of a run
  UNIQUE (run_id, model, variable, level_m, reference_time, cell_id)
);

-- the serving query: tiles of (dataset, variable) whose extent meets a box and whose valid range meets a window
CREATE INDEX tiles_search ON tiles USING gist (dataset, variable, extent, valid);

CREATE INDEX tiles_by_run ON tiles (run_id);

CREATE TABLE lineage (
  raw_key text COLLATE "C" NOT NULL,
  raw_sha256 text COLLATE "C" NOT NULL,
  tile_key text COLLATE "C" NOT NULL REFERENCES tiles(key),
  run_id text COLLATE "C" NOT NULL REFERENCES ingestion_runs(run_id),
  transformation text COLLATE "C" NOT NULL,
  transformation_version text COLLATE "C" NOT NULL,
  PRIMARY KEY (raw_key, tile_key)
);

CREATE INDEX lineage_by_tile ON lineage (tile_key);

-- The allowed status changes (jackfruit.domain.model.NEXT_STATUS and NEXT_TRANSFORM), as data for the trigger.
CREATE TABLE run_transitions (
  machine text COLLATE "C" NOT NULL CHECK (machine IN ('status', 'transform')),
  from_state text COLLATE "C" NOT NULL,
  to_state text COLLATE "C" NOT NULL,
  PRIMARY KEY (machine, from_state, to_state)
);

INSERT INTO run_transitions (machine, from_state, to_state) VALUES
  ('status', 'pending', 'running'),
  ('status', 'pending', 'failed'),
  ('status', 'running', 'succeeded'),
  ('status', 'running', 'failed'),
  ('status', 'running', 'quarantined'),
  ('transform', 'none', 'transforming'),
  ('transform', 'transforming', 'published'),
  ('transform', 'transforming', 'refused');

-- The database's own line of defence (the domain's runs.check_change runs first): status transitions, fixed
-- and write-once facts of a run. SQLSTATE check_violation, which the catalog reports as Conflict.
CREATE FUNCTION ingestion_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
      SELECT 1 FROM run_transitions
      WHERE machine = 'status' AND from_state = OLD.status AND to_state = NEW.status) THEN
    RAISE EXCEPTION 'run %: status % cannot become %', OLD.run_id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_status_transition';
  END IF;
  IF NEW.transform_status IS DISTINCT FROM OLD.transform_status AND NOT EXISTS (
      SELECT 1 FROM run_transitions
      WHERE machine = 'transform' AND from_state = OLD.transform_status AND to_state = NEW.transform_status) THEN
    RAISE EXCEPTION 'run %: transformation % cannot become %', OLD.run_id, OLD.transform_status,
      NEW.transform_status USING ERRCODE = 'check_violation', CONSTRAINT = 'run_transform_transition';
  END IF;
  IF (NEW.run_id, NEW.source, NEW.dataset, NEW.partition_date, NEW.request::text, NEW.created_at, NEW.raw_key,
      NEW.supersedes, NEW.orchestrator_run_id, NEW.partition_key)
     IS DISTINCT FROM
     (OLD.run_id, OLD.source, OLD.dataset, OLD.partition_date, OLD.request::text, OLD.created_at, OLD.raw_key,
      OLD.supersedes, OLD.orchestrator_run_id, OLD.partition_key) THEN
    RAISE EXCEPTION 'run %: its identity, request, raw key and partition are fixed', OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_fixed_fields';
  END IF;
  IF (OLD.raw_size IS NOT NULL AND NEW.raw_size IS DISTINCT FROM OLD.raw_size)
     OR (OLD.raw_sha256 IS NOT NULL AND NEW.raw_sha256 IS DISTINCT FROM OLD.raw_sha256)
     OR (OLD.upstream_job_id IS NOT NULL AND NEW.upstream_job_id IS DISTINCT FROM OLD.upstream_job_id) THEN
    RAISE EXCEPTION 'run %: a recorded size, sha256 or upstream job id cannot change', OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_recorded_facts';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER ingestion_runs_guard BEFORE UPDATE ON ingestion_runs
  FOR EACH ROW EXECUTE FUNCTION ingestion_runs_guard();

-- Attempts are history: who, which epoch and when it started never change; an ended attempt never changes;
-- none is ever deleted.
CREATE FUNCTION attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'attempt % of run % is history and cannot be removed', OLD.attempt_id, OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'attempt_history';
  END IF;
  IF (NEW.run_id, NEW.seq, NEW.attempt_id, NEW.kind, NEW.epoch, NEW.owner, NEW.started_at)
     IS DISTINCT FROM (OLD.run_id, OLD.seq, OLD.attempt_id, OLD.kind, OLD.epoch, OLD.owner, OLD.started_at)
     OR (OLD.ended_at IS NOT NULL AND (NEW.ended_at, NEW.outcome) IS DISTINCT FROM (OLD.ended_at, OLD.outcome)) THEN
    RAISE EXCEPTION 'attempt % of run % is history and cannot be rewritten', OLD.attempt_id, OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'attempt_history';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER attempts_guard BEFORE UPDATE OR DELETE ON attempts
  FOR EACH ROW EXECUTE FUNCTION attempts_guard();
