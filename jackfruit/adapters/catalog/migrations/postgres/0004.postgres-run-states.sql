-- jackfruit catalog on PostgreSQL, schema 4: run states of issue 17 (docs/runs.md, jackfruit/domain/runs.py).
-- A transformation may end 'failed' (its attempt failed with the reason recorded, or its lease expired and gc ended
-- it) and is claimed again from there under the same version or a newer one; a failed ingestion whose upstream job
-- the upstream still holds is re-opened (failed -> running, a new attempt) to resume that job instead of paying for
-- a second one. The guard of 0001/0003 is unchanged: it
-- reads the allowed transitions from run_transitions; one more trigger guards the re-opening.
-- depends: 0003.postgres-tile-versions
ALTER TABLE ingestion_runs DROP CONSTRAINT ingestion_runs_transform_status_check;

ALTER TABLE ingestion_runs ADD CONSTRAINT ingestion_runs_transform_status_check
  CHECK (transform_status IN ('none', 'transforming', 'published', 'refused', 'failed'));

INSERT INTO run_transitions (machine, from_state, to_state) VALUES
  ('status', 'failed', 'running'),
  ('transform', 'transforming', 'failed'),
  ('transform', 'failed', 'transforming');

-- a failed run is re-opened only to resume the upstream job it recorded (one upstream job per partition)
CREATE FUNCTION ingestion_runs_reopen_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'failed' AND NEW.status = 'running' AND OLD.upstream_job_id IS NULL THEN
    RAISE EXCEPTION 'run %: a failed run without an upstream job cannot be re-opened', OLD.run_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'run_status_transition';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER ingestion_runs_reopen_guard BEFORE UPDATE OF status ON ingestion_runs
  FOR EACH ROW EXECUTE FUNCTION ingestion_runs_reopen_guard();
