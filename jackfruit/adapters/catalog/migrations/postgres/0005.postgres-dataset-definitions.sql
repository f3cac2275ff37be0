-- depends: 0004.postgres-run-states
-- Datasets as a seam (issue 19): each registered dataset records its upstream dataset id (two jackfruit datasets
-- may share one, e.g. forecasts and analyses) and the version of its definition (a source profile bumps it when
-- the recorded definition changes; registering a newer version replaces the row, an older one leaves it).
ALTER TABLE datasets ADD COLUMN upstream_dataset text COLLATE "C";
ALTER TABLE datasets ADD COLUMN definition_version integer NOT NULL DEFAULT 1 CHECK (definition_version >= 1);
UPDATE datasets SET upstream_dataset = name WHERE upstream_dataset IS NULL;
ALTER TABLE datasets ALTER COLUMN upstream_dataset SET NOT NULL;
