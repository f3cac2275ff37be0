-- depends: 0005.sqlite-run-states
-- Datasets as a seam (issue 19): each registered dataset records its upstream dataset id (two jackfruit datasets
-- may share one, e.g. forecasts and analyses) and the version of its definition (a source profile bumps it when
-- the recorded definition changes; registering a newer version replaces the row, an older one leaves it).
ALTER TABLE datasets ADD COLUMN upstream_dataset TEXT;
ALTER TABLE datasets ADD COLUMN definition_version INTEGER NOT NULL DEFAULT 1 CHECK (definition_version >= 1);
UPDATE datasets SET upstream_dataset = name WHERE upstream_dataset IS NULL;
