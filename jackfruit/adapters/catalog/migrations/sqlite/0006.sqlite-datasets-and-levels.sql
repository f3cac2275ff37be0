-- depends: 0005.sqlite-run-states
-- Datasets as a seam (issue 19). Each registered dataset records its upstream dataset id (two jackfruit datasets
-- may share one, e.g. forecasts and analyses) and the version of its definition (a source profile bumps it when
-- the recorded definition changes; registering a newer version replaces the row, an older one leaves it).
ALTER TABLE datasets ADD COLUMN upstream_dataset TEXT;
ALTER TABLE datasets ADD COLUMN definition_version INTEGER NOT NULL DEFAULT 1 CHECK (definition_version >= 1);
UPDATE datasets SET upstream_dataset = name WHERE upstream_dataset IS NULL;

-- Typed levels (jackfruit/domain/levels.py): a tile's level is a kind (height in m, surface, pressure in hPa, model
-- level) and its value (level_m). Every tile before this schema is a height (CAMS Europe, transformation versions
-- 1-4). The level kind is part of a tile's slot and product (the currency rule, _rows.currency_sql).
ALTER TABLE tiles ADD COLUMN level_type TEXT NOT NULL DEFAULT 'height'
  CHECK (level_type IN ('height', 'surface', 'pressure', 'model'));
DROP INDEX tiles_by_slot;
CREATE INDEX tiles_by_slot ON tiles (dataset, model, variable, level_type, level_m, reference_time, cell_id, run_id);
DROP INDEX tiles_by_run_product;
CREATE INDEX tiles_by_run_product ON tiles (run_id, model, variable, level_type, level_m, reference_time);
