-- jackfruit catalog on PostgreSQL, schema 3: tiles per transformation version and "as known at" queries, and
-- upstream jobs replaced by a resubmission
-- (jackfruit/domain/currency.py). A run is published once per transformation version: a published or refused run
-- may be claimed again under a newer version (ingestion_runs.transform_version grows), its new tiles go next to
-- the old ones. Each tile records its version, when it was published (the publish's time) and when
-- `jackfruit gc --superseded` removed its objects; the row itself stays (history, lineage).
-- depends: 0002.postgres-tile-series-index
ALTER TABLE ingestion_runs ADD COLUMN transform_version text COLLATE "C"
  CONSTRAINT run_transform_version_number CHECK (transform_version ~ '^[1-9][0-9]*$');

-- upstream jobs a run gave up for a newer one (results expired, request resubmitted), oldest first; the trigger
-- lets upstream_job_id change only by moving the old id to the end of this list
ALTER TABLE ingestion_runs ADD COLUMN replaced_upstream_jobs json NOT NULL DEFAULT '[]';

UPDATE tiles SET transformation_version = COALESCE(
  (SELECT max(l.transformation_version) FROM lineage l WHERE l.tile_key = tiles.key), '1')
WHERE transformation_version IS NULL;

ALTER TABLE tiles ALTER COLUMN transformation_version SET NOT NULL;

ALTER TABLE tiles ADD CONSTRAINT tile_transformation_version_number CHECK (transformation_version ~ '^[1-9][0-9]*$');

ALTER TABLE tiles ADD COLUMN published_at timestamptz;

ALTER TABLE tiles ADD COLUMN removed_at timestamptz;

-- tiles published before this schema: the end of their run's publishing attempt, else the run's end
UPDATE tiles SET published_at = COALESCE(
  (SELECT max(a.ended_at) FROM attempts a
   WHERE a.run_id = tiles.run_id AND a.kind = 'transform' AND a.outcome = 'published'),
  (SELECT r.finished_at FROM ingestion_runs r WHERE r.run_id = tiles.run_id),
  (SELECT r.created_at FROM ingestion_runs r WHERE r.run_id = tiles.run_id));

ALTER TABLE tiles ALTER COLUMN published_at SET NOT NULL;

ALTER TABLE tiles ADD CONSTRAINT tile_removed_after_published CHECK (removed_at IS NULL OR removed_at >= published_at);

UPDATE ingestion_runs r SET transform_version = (SELECT max(t.transformation_version) FROM tiles t WHERE t.run_id = r.run_id)
WHERE r.transform_status = 'published';

-- one tile per slot of a run per version (was: per slot of a run)
ALTER TABLE tiles DROP CONSTRAINT tiles_run_id_model_variable_level_m_reference_time_cell_id_key;

ALTER TABLE tiles ADD CONSTRAINT tiles_one_per_slot_and_version
  UNIQUE (run_id, transformation_version, model, variable, level_m, reference_time, cell_id);

-- what decides whether a tile is current (jackfruit/domain/currency.py): a newer run in its slot, a newer version
-- of its own run's product; one index range each
CREATE INDEX tiles_by_slot ON tiles (dataset, model, variable, level_m, reference_time, cell_id, run_id);

CREATE INDEX tiles_by_run_product ON tiles (run_id, model, variable, level_m, reference_time);

-- what gc --superseded visits
CREATE INDEX tiles_not_removed ON tiles (published_at) WHERE removed_at IS NULL;

INSERT INTO run_transitions (machine, from_state, to_state) VALUES
  ('transform', 'published', 'transforming'),
  ('transform', 'refused', 'transforming');

CREATE OR REPLACE FUNCTION ingestion_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
  -- the version only grows, and only with a new claim; a finished run is claimed again only under a newer one
  IF OLD.transform_version IS NOT NULL AND (NEW.transform_version IS NULL
      OR NEW.transform_version::bigint < OLD.transform_version::bigint
      OR (NEW.transform_version <> OLD.transform_version AND NEW.transform_status <> 'transforming')) THEN
    RAISE EXCEPTION 'run %: transformation version % cannot become %', OLD.run_id, OLD.transform_version,
      NEW.transform_version USING ERRCODE = 'check_violation', CONSTRAINT = 'run_transform_version';
  END IF;
  IF OLD.transform_status IN ('published', 'refused') AND NEW.transform_status = 'transforming'
     AND OLD.transform_version IS NOT NULL
     AND NOT (NEW.transform_version::bigint > OLD.transform_version::bigint) THEN
    RAISE EXCEPTION 'run %: already transformed under version %; only a newer version may transform it again',
      OLD.run_id, OLD.transform_version USING ERRCODE = 'check_violation', CONSTRAINT = 'run_transform_version';
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
     OR (OLD.upstream_job_id IS NOT NULL AND NEW.upstream_job_id IS DISTINCT FROM OLD.upstream_job_id
         AND (NEW.upstream_job_id IS NULL OR NEW.replaced_upstream_jobs::jsonb IS DISTINCT FROM
              OLD.replaced_upstream_jobs::jsonb || to_jsonb(OLD.upstream_job_id)))
     OR (NEW.replaced_upstream_jobs::jsonb IS DISTINCT FROM OLD.replaced_upstream_jobs::jsonb
         AND (NEW.upstream_job_id IS NOT DISTINCT FROM OLD.upstream_job_id
              OR NEW.replaced_upstream_jobs::jsonb IS DISTINCT FROM
                 OLD.replaced_upstream_jobs::jsonb || to_jsonb(OLD.upstream_job_id))) THEN
    RAISE EXCEPTION 'run %: a recorded size, sha256 or upstream job id cannot change', OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_recorded_facts';
  END IF;
  RETURN NEW;
END
$$;

-- Tiles are immutable: never deleted, never rewritten; only removed_at is set, once.
CREATE FUNCTION tiles_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'tile % is history and cannot be deleted (gc --superseded sets removed_at)', OLD.key
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tile_history';
  END IF;
  IF OLD.removed_at IS NOT NULL OR NEW.removed_at IS NULL
     -- every stored column but removed_at (the generated extent is not computed yet in a BEFORE trigger)
     OR (to_jsonb(NEW) - 'removed_at' - 'extent') IS DISTINCT FROM (to_jsonb(OLD) - 'removed_at' - 'extent') THEN
    RAISE EXCEPTION 'tile % is immutable: only its removal time is recorded, once', OLD.key
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tile_history';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tiles_guard BEFORE UPDATE OR DELETE ON tiles
  FOR EACH ROW EXECUTE FUNCTION tiles_guard();
