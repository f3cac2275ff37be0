-- jackfruit catalog on PostgreSQL, schema 4: run states of issue 17 (docs/runs.md, jackfruit/domain/runs.py).
-- A transformation may end 'failed' (its attempt failed with the reason recorded, or its lease expired and gc ended
-- it) and is claimed again from there under the same version or a newer one; a failed ingestion whose upstream job
-- the upstream still holds is re-opened (failed -> running, a new attempt) to resume that job instead of paying for
-- a second one. The guard function is replaced whole (its earlier rules unchanged).
-- depends: 0003.postgres-tile-versions
ALTER TABLE ingestion_runs DROP CONSTRAINT ingestion_runs_transform_status_check;

ALTER TABLE ingestion_runs ADD CONSTRAINT ingestion_runs_transform_status_check
  CHECK (transform_status IN ('none', 'transforming', 'published', 'refused', 'failed'));

INSERT INTO run_transitions (machine, from_state, to_state) VALUES
  ('status', 'failed', 'running'),
  ('transform', 'transforming', 'failed'),
  ('transform', 'failed', 'transforming');

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
  -- a failed run is re-opened only to resume the upstream job it recorded (one upstream job per partition)
  IF OLD.status = 'failed' AND NEW.status = 'running' AND OLD.upstream_job_id IS NULL THEN
    RAISE EXCEPTION 'run %: a failed run without an upstream job cannot be re-opened', OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_status_transition';
  END IF;
  -- the version only grows (a failed transformation is claimed again under the same version or a newer one), and only with a new claim; a finished run is claimed again only under a newer one
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
