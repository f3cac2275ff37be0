-- SQLite catalog schema 3: the R*Tree indexes valid time beside longitude and latitude, so that find_tiles
-- reads the tiles of a time window instead of every tile of its place (docs/adr/0008-catalog-postgres.md).
-- The time dimension is whole hours since 1970-01-01 UTC, the first hour rounded down and the last rounded up
-- (so the box always holds the tile's closed [valid_start, valid_end]); float32, the R*Tree's type, holds whole
-- hours exactly until the year 3884, and beyond that SQLite still rounds the stored box outwards. find_tiles
-- takes candidates from this box and then applies the exact predicates to the integer columns.
-- An R*Tree's columns cannot be altered: the index is rebuilt from the tiles table (its source of truth).
-- depends: 0002.sqlite-run-model
DROP TABLE tiles_rtree;

CREATE VIRTUAL TABLE tiles_rtree USING rtree(id, west, east, south, north, first_hour, last_hour);

INSERT INTO tiles_rtree (id, west, east, south, north, first_hour, last_hour)
SELECT id, west, east, south, north,
       -- floor(valid_start / 1 h) and ceil(valid_end / 1 h): SQLite's integer division truncates towards zero
       (valid_start - ((valid_start % 3600000000) + 3600000000) % 3600000000) / 3600000000,
       -((-valid_end - ((-valid_end % 3600000000) + 3600000000) % 3600000000) / 3600000000)
FROM tiles;
