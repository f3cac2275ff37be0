"""Lineage both ways: which tiles a raw object made (the catalog's edges), and which raw object and which of its
GRIB messages a tile was made from (the tile's own record of its sources, verified)."""

from __future__ import annotations

from typing import Any

from jackfruit.domain.errors import NotFound
from jackfruit.ports import Catalog, ObjectStore, TileFormat


def tile_sources(catalog: Catalog, curated_store: ObjectStore, tile_format: TileFormat, tile_key: str) -> dict[str, Any]:
    """The raw object (key, SHA-256, run) and the byte range of each source message, per lead time."""
    edges = catalog.lineage(tile_key=tile_key)
    if not edges:
        raise NotFound(f"no tile {tile_key} in the catalog")
    edge = edges[0]
    tile = next((t for t in catalog.tiles_of_run(edge.run_id) if t.key == tile_key), None)
    if tile is None:
        raise NotFound(f"tile {tile_key} has lineage but is not among run {edge.run_id}'s tiles")
    return {"tile_key": tile_key, "raw_key": edge.raw_key, "raw_sha256": edge.raw_sha256, "run_id": edge.run_id,
            "transformation": edge.transformation, "transformation_version": edge.transformation_version,
            "messages": tile_format.sources(curated_store, tile)}
