"""The CF attributes and the licence of tiles and reads: a tile group's attributes and its data array's
(written; the dataset-specific ones -- CF names, institution, licence, attribution -- come from the source profile
through the transformation's ``attrs``), and what a read's dataset carries (each variable's, and the provenance of the
result: every source run, raw object and tile, the licence and the attribution of every year it covers, as the
tiles recorded them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from jackfruit.domain import levels
from jackfruit.domain.tiling import Cell, RegularGrid, TileGroup

if TYPE_CHECKING:
    from .tile_assemble import Piece

#: time units of the coordinate arrays of version-1 and version-2 tiles
EPOCH_UNITS = "seconds since 1970-01-01T00:00:00Z"
_CF_DATA = ("units", "long_name", "standard_name")

PRESENT_ATTRS = {"long_name": "a source GRIB message exists for this variable and time",
                 "flag_meanings": "false: no message in any source; values there are NaN, not measured"}


def root_attrs(group: TileGroup, cell: Cell, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The tile group's attributes: CF globals, the licence, the grid of its points, lead times, provenance
    and the GRIB identity (``attrs``: the transformation's, ``source_*``, ``grib_*``...)."""
    (j0, j1), (i0, i1) = cell.rows, cell.cols
    grid = group.grid
    sub = RegularGrid(grid.lat(j0), grid.lon(i0), grid.dlat, grid.dlon, j1 - j0, i1 - i0)
    return {
        "Conventions": "CF-1.10",
        "title": f"{attrs.get('long_name', group.variable)} ({group.model}, "
                 f"{levels.describe(group.level_type, group.level_m)})",
        "institution": attrs.get("institution", group.model),
        "source": attrs.get("source_raw_key", ""),
        "history": f"{attrs.get('transformation')} v{attrs.get('transformation_version')}",
        "license": attrs.get("license", ""),
        "jackfruit_model": group.model,
        "jackfruit_variable": group.variable,
        "jackfruit_level_m": group.level_m,
        "jackfruit_level_type": group.level_type,
        "jackfruit_reference_time": group.reference_time.isoformat(),
        "jackfruit_steps": list(group.steps),  # hours from jackfruit_reference_time, along jackfruit_time_axis
        "jackfruit_time_axis": group.time_axis,
        "jackfruit_grid": {"lat0": sub.lat0, "lon0": sub.lon0, "dlat": sub.dlat, "dlon": sub.dlon,
                           "ny": sub.ny, "nx": sub.nx},
        "jackfruit_extent": list(cell.bbox.as_tuple()),
        **{k: v for k, v in attrs.items() if k.startswith(("source_", "transformation", "attribution",
                                                           "grib_"))},
    }


def array_attrs(group: TileGroup, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The data array's attributes: its CF names and units, and the variable."""
    return {k: attrs[k] for k in _CF_DATA if k in attrs} | {"jackfruit_variable": group.variable}


def variable_attrs(pieces: list["Piece"]) -> dict[str, dict[str, Any]]:
    """Each variable's attributes in a read's dataset."""
    out: dict[str, dict[str, Any]] = {}
    for p in pieces:
        attrs = out.setdefault(p.tile.variable, {k: p.data_attrs[k] for k in _CF_DATA if k in p.data_attrs})
        attrs["jackfruit_model"] = p.tile.model
        attrs["jackfruit_level_m"] = p.tile.level_m
        attrs["jackfruit_level_type"] = p.tile.level_type
        attrs["institution"] = p.attrs.get("institution", p.tile.model)
    return out


def provenance(pieces: list["Piece"], layout: str) -> dict[str, Any]:
    """Every source run, raw object and tile the result was assembled from, and the licence with the
    attribution of every year it covers (attributes never dropped when sources differ)."""
    sources: dict[str, dict[str, Any]] = {}
    licences: set[str] = set()
    attributions: set[str] = set()
    versions = set()
    for p in sorted(pieces, key=lambda p: p.tile.key):
        entry = sources.setdefault(p.tile.run_id, {
            "run_id": p.tile.run_id, "raw_key": p.attrs.get("source_raw_key", ""),
            "raw_sha256": p.attrs.get("source_raw_sha256", ""), "tiles": []})
        entry["tiles"].append({"key": p.tile.key, "sha256": p.tile.sha256})
        licences.add(str(p.attrs.get("license", "")))
        attributions.add(str(p.attrs.get("attribution", "")))
        versions.add(str(p.attrs.get("transformation_version", "")))
    return {
        "Conventions": "CF-1.10",
        "jackfruit_layout": layout,
        "license": "; ".join(sorted(x for x in licences if x)),
        "attribution": "; ".join(sorted(x for x in attributions if x)),
        "source": "; ".join(sorted({s["raw_key"] for s in sources.values()})),
        "jackfruit_sources": [sources[k] for k in sorted(sources)],
        "jackfruit_transformation_versions": sorted(versions),
    }
