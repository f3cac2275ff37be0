"""Deterministic products shaped like the ADS answers of the global CAMS datasets, written with ecCodes from real
messages as templates (``data/``, provenance in ``data/README.md``; only keys and values change).

The fields are exactly the ones the profile expects for the request (``expected_fields``: single-level variables
at the surface, multi-level ones on the requested levels and, in forecasts, every third lead hour), in the
encoding the real product uses: forecasts as the global sample (GRIB1 for surface and pressure-level fields, GRIB2
with ECMWF's local discipline 192 for model levels, mixed in one file), EAC4 all GRIB1 as its sample. The grid is
the whole global one (north to south, longitudes 0..360) or the request's area, its first point at the area's
north-west corner as in both samples.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Mapping

from jackfruit.adapters import _load_order  # noqa: F401 - libpq before ecCodes' libraries: see there

import eccodes  # noqa: E402
import numpy as np

from jackfruit.domain.acceptance import FieldKey
from jackfruit.domain.errors import InvalidInput

from . import codes

if TYPE_CHECKING:
    from .profile import CamsGlobalProfile

_GRIB1_LEVEL = {"surface": 1, "pressure": 100, "model": 109}
_SCALE = {"kg m-3": 2e-8, "kg kg-1": 3e-8, "kg m-2": 2e-5, "1": 0.2}


def grid_points(profile: "CamsGlobalProfile", area: Any) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (north to south) and longitudes (eastwards) of the answer's points."""
    step = profile.grid_step
    if not area:
        return (np.round(90.0 - step * np.arange(round(180 / step) + 1), 6),
                np.round(step * np.arange(round(360 / step)), 6))
    north, west, south, east = (float(v) for v in area)
    lats = np.round(north - step * np.arange(int(np.floor((north - south) / step + 1e-6)) + 1), 6)
    lons = np.round(west + step * np.arange(int(np.floor((east - west) / step + 1e-6)) + 1), 6)
    return lats, lons


def _values(key: FieldKey, variable: codes.Variable, lats: np.ndarray, lons: np.ndarray, dataset: str) -> np.ndarray:
    """A smooth pattern moving with the lead time plus noise, seeded by the field (deterministic)."""
    text = f"{dataset} {key.day} {key.hour} {key.variable} {key.level_type} {key.level_m} {key.step}"
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))
    phase = key.step / 24.0 * 2 * np.pi + key.hour / 12.0 + key.day.toordinal() % 17
    field = np.outer(np.sin(3 * lats + phase), np.cos(2 * lons - phase / 2))  # separable: cheap on a global grid
    field += 1.2 + 0.1 * rng.standard_normal(field.shape)
    return np.clip(field, 0.0, None) * (_SCALE[variable.units] / (1 + key.level_m / 500))


def _set_grid(h: Any, lats: np.ndarray, lons: np.ndarray, step: float, edition: int) -> None:
    west, east = float(lons[0]), float(lons[-1])
    if edition == 2:  # GRIB2 longitudes are 0..360
        west, east = west % 360, east % 360
    eccodes.codes_set_long(h, "Ni", len(lons))
    eccodes.codes_set_long(h, "Nj", len(lats))
    for key, value in (("latitudeOfFirstGridPointInDegrees", float(lats[0])),
                       ("latitudeOfLastGridPointInDegrees", float(lats[-1])),
                       ("longitudeOfFirstGridPointInDegrees", west), ("longitudeOfLastGridPointInDegrees", east),
                       ("iDirectionIncrementInDegrees", step), ("jDirectionIncrementInDegrees", step)):
        eccodes.codes_set_double(h, key, value)


def _encode(base: Any, key: FieldKey, variable: codes.Variable, values: np.ndarray) -> bytes:
    h = eccodes.codes_clone(base)
    try:
        edition = eccodes.codes_get_long(h, "edition")
        if edition == 1:
            eccodes.codes_set_long(h, "table2Version", variable.param_id // 1000)
            eccodes.codes_set_long(h, "indicatorOfParameter", variable.param_id % 1000)
            eccodes.codes_set_long(h, "indicatorOfTypeOfLevel", _GRIB1_LEVEL[key.level_type])
            eccodes.codes_set_long(h, "level", key.level_m)
            eccodes.codes_set_long(h, "P1", key.step)
        else:
            eccodes.codes_set_long(h, "parameterCategory", variable.param_id // 1000)
            eccodes.codes_set_long(h, "parameterNumber", variable.param_id % 1000)
            eccodes.codes_set_long(h, "scaledValueOfFirstFixedSurface", key.level_m)
            eccodes.codes_set_long(h, "forecastTime", key.step)
        eccodes.codes_set_long(h, "dataDate", int(key.day.strftime("%Y%m%d")))
        eccodes.codes_set_long(h, "dataTime", key.hour * 100)
        eccodes.codes_set_long(h, "bitsPerValue", 16)
        eccodes.codes_set_values(h, values.ravel())
        return bytes(eccodes.codes_get_message(h))
    finally:
        eccodes.codes_release(h)


def grib_for_request(profile: "CamsGlobalProfile", request: Mapping[str, Any]) -> bytes:
    """The answer to ``request`` (``InvalidInput`` for a request the dataset refuses or one that asks for nothing)."""
    profile.check_request({k: v for k, v in request.items() if k != "date"})
    keys, _ = profile.expected_fields(request)
    keys.sort(key=lambda k: (k.day, k.hour, k.step))  # the upstream's order: step by step, every field of a step
    if not keys:
        raise InvalidInput(f"the request asks {profile.name} for no field (a date and variables the requested "
                           "levels have are needed)")
    lats, lons = grid_points(profile, request.get("area"))
    if not len(lats) or not len(lons):
        raise InvalidInput(f"area {request.get('area')} holds no point of the {profile.grid_step} degree grid")
    bases = {}
    try:
        for kind, path in profile.synthetic_templates.items():
            with open(path, "rb") as f:
                bases[kind] = eccodes.codes_grib_new_from_file(f)
            _set_grid(bases[kind], lats, lons, profile.grid_step, 2 if kind == "grib2" else 1)
        out = []
        for key in keys:
            variable = codes.VARIABLES[key.variable]
            base = bases["grib2" if key.level_type == "model" and "grib2" in bases else "grib1"]
            out.append(_encode(base, key, variable, _values(key, variable, np.radians(lats), np.radians(lons), profile.name)))
        return b"".join(out)
    finally:
        for h in bases.values():
            eccodes.codes_release(h)
