"""Assembling the pieces read from tiles into one dataset, in either layout of ``jackfruit.domain.selection``
(``forecast``: reference time x lead time; ``valid_time``: the newest forecast per valid time), with
``present`` saying where a source message exists; nothing is invented."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasIndex

from jackfruit.domain.model import Tile, version_number
from jackfruit.domain.selection import forecast_layout, valid_time_layout

from .tile_attributes import PRESENT_ATTRS, provenance, variable_attrs


@dataclass
class Piece:
    """What one tile gives a read: its selected times, each a (reference time, lead time) (a tile of analyses
    holds several reference times at lead time 0: ``tiling.time_entries``), its points and values, with its
    attributes."""

    tile: Tile
    entries: tuple[tuple[datetime, int], ...]
    lats: np.ndarray
    lons: np.ndarray
    values: np.ndarray  # (entries, lats, lons) float32
    attrs: dict[str, Any]
    data_attrs: dict[str, Any]


def _datetime64(values: Sequence[datetime]) -> np.ndarray:
    return np.array([np.datetime64(v.astimezone(timezone.utc).replace(tzinfo=None), "ns") for v in values],
                    dtype="datetime64[ns]")


def assemble(pieces: list[Piece], layout: str) -> xr.Dataset:
    """One dataset from the pieces: coordinates are the union of the pieces' points, nothing is invented
    (``present`` is false where no source message exists; such values are NaN). Where two pieces hold the same
    field at the same time and point (current tiles of two runs whose time axes differ: a day of analyses beside
    one analysis of an older version), the newest run's, then the newest version's, value is the one given."""
    lat_values = sorted({round(float(v), 6) for p in pieces for v in p.lats}, reverse=True)
    lon_values = sorted({round(float(v), 6) for p in pieces for v in p.lons})
    lat_index = {v: n for n, v in enumerate(lat_values)}
    lon_index = {v: n for n, v in enumerate(lon_values)}
    variables = sorted({p.tile.variable for p in pieces})
    available = {v: {e for p in pieces if p.tile.variable == v for e in p.entries} for v in variables}
    fl = forecast_layout(available)
    ref_index = {r: n for n, r in enumerate(fl.reference_times)}
    step_index = {s: n for n, s in enumerate(fl.steps)}
    shape = (len(fl.reference_times), len(fl.steps), len(lat_values), len(lon_values))
    data = {v: np.full(shape, np.nan, dtype=np.float32) for v in variables}
    for p in sorted(pieces, key=lambda p: (p.tile.run_id, version_number(p.tile.transformation_version))):
        rows = np.array([lat_index[round(float(v), 6)] for v in p.lats])
        cols = np.array([lon_index[round(float(v), 6)] for v in p.lons])
        target = data[p.tile.variable]
        refs = {r for r, _ in p.entries}
        if len(refs) == 1:  # one forecast: its lead times in one go
            ks = np.array([step_index[s] for _, s in p.entries])
            target[ref_index[p.entries[0][0]]][np.ix_(ks, rows, cols)] = p.values
        else:  # analyses: one reference time each
            for n, (r, s) in enumerate(p.entries):
                target[ref_index[r], step_index[s]][np.ix_(rows, cols)] = p.values[n]
    present = np.array([[[fl.is_present(v, ref, s) for s in fl.steps] for ref in fl.reference_times]
                        for v in variables], dtype=bool)
    lat = ("latitude", np.array(lat_values), {"units": "degrees_north", "standard_name": "latitude"})
    lon = ("longitude", np.array(lon_values), {"units": "degrees_east", "standard_name": "longitude"})
    refs = _datetime64(fl.reference_times)
    var_attrs = variable_attrs(pieces)
    if layout == "forecast":
        steps = np.array(fl.steps, dtype=np.int32)
        valid = refs[:, None] + steps[None, :].astype("timedelta64[h]").astype("timedelta64[ns]")
        coords = {
            "forecast_reference_time": ("forecast_reference_time", refs, {"standard_name": "forecast_reference_time"}),
            "step": ("step", steps, {"units": "hours", "long_name": "lead time", "standard_name": "forecast_period"}),
            "valid_time": (("forecast_reference_time", "step"), valid, {"standard_name": "time"}),
            "latitude": lat, "longitude": lon, "variable": ("variable", np.array(variables, dtype=object)),
        }
        dims = ("forecast_reference_time", "step", "latitude", "longitude")
        data_vars: dict[str, Any] = {v: (dims, data[v], var_attrs[v]) for v in variables}
        data_vars["present"] = (("variable", "forecast_reference_time", "step"), present, PRESENT_ATTRS)
    else:
        vl = valid_time_layout(available)
        pick_r = np.array([ref_index[r] for r in vl.source], dtype=int)
        pick_s = np.array([step_index[int((vt - r).total_seconds() // 3600)]
                           for vt, r in zip(vl.valid_times, vl.source)], dtype=int)
        coords = {
            "valid_time": ("valid_time", _datetime64(vl.valid_times), {"standard_name": "time"}),
            "forecast_reference_time": ("valid_time", _datetime64(vl.source),
                                        {"standard_name": "forecast_reference_time",
                                         "long_name": "the newest forecast covering each valid time"}),
            "latitude": lat, "longitude": lon, "variable": ("variable", np.array(variables, dtype=object)),
        }
        dims = ("valid_time", "latitude", "longitude")
        data_vars = {v: (dims, data[v][pick_r, pick_s], var_attrs[v]) for v in variables}
        data_vars["present"] = (("variable", "valid_time"), np.array(
            [[vt in vl.present[v] for vt in vl.valid_times] for v in variables], dtype=bool), PRESENT_ATTRS)
    return xr.Dataset(data_vars, coords=_coordinates(coords), attrs=provenance(pieces, layout))


def _coordinates(coords: Mapping[str, tuple]) -> xr.Coordinates:
    """Coordinates with their indexes built here from the arrays' own dtypes (``PandasIndex`` over a
    ``pandas.Index``): the same indexes xarray would make, at a third of its cost for a small read."""
    variables = {name: xr.Variable(*spec) for name, spec in coords.items()}
    indexes = {name: PandasIndex(pd.Index(v.values, name=name), name) for name, v in variables.items()
               if v.dims == (name,)}
    return xr.Coordinates(variables, indexes=indexes)
