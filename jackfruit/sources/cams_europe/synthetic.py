"""Deterministic generator of GRIB2 encoded like real CAMS Europe, using ecCodes and a real message as template.

The template is the first message of the real ADS download kept in tests/data/grib, shipped as package data
(``data/cams-europe-template.grib``; provenance in ``data/README.md``). Only keys are changed:
centre/subCentre (model), parameterNumber/constituentType
(species), level, reference date, lead time, grid (when an area is given), packing bits and values.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from jackfruit.adapters import _load_order  # noqa: F401 - libpq before ecCodes' libraries: see there

import eccodes  # noqa: E402
import numpy as np

from . import codes as cams
from jackfruit.domain.errors import InvalidInput

TEMPLATE = Path(__file__).resolve().parent / "data" / "cams-europe-template.grib"  # provenance: data/README.md
FULL_AREA = (71.95, -24.95, 30.05, 44.95)  # N, W, S, E of grid-cell centres


@dataclass(frozen=True)
class FieldSpec:
    day: date
    model: str
    variable: str
    level_m: int
    step: int
    hour: int = 0  # reference hour (analyses: every hour of the day, lead time 0)
    analysis: bool = False


def fields(days: Sequence[date], models: Sequence[str], variables: Sequence[str], levels: Sequence[int],
           steps: Iterable[int], hours: Sequence[int] = (0,), analysis: bool = False) -> list[FieldSpec]:
    """ADS order: date, time, model, variable, level, lead time (innermost)."""
    steps = list(steps)
    return [FieldSpec(d, m, v, lv, s, h, analysis) for d in days for h in hours for m in models for v in variables
            for lv in levels for s in steps]


def _values(spec: FieldSpec, lats: np.ndarray, lons: np.ndarray, missing_fraction: float) -> np.ndarray:
    sp = cams.SPECIES_BY_NAME[spec.variable]
    seed_text = (f"FieldSpec(day={spec.day!r}, model={spec.model!r}, variable={spec.variable!r}, "
                 f"level_m={spec.level_m!r}, step={spec.step!r})")  # the values of earlier releases, unchanged
    if spec.hour or spec.analysis:
        seed_text += f" hour={spec.hour} analysis={spec.analysis}"
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    scale = 40.0 if sp.parameter_number == cams.POLLEN_COUNT else 2e-8 * (1 + sp.constituent_type % 7)
    lat2, lon2 = np.meshgrid(np.radians(lats), np.radians(lons), indexing="ij")
    phase = spec.step / 24.0 * 2 * np.pi + spec.day.toordinal() % 17
    field = 1.2 + np.sin(3 * lat2 + phase) * np.cos(2 * lon2 - phase / 2) + 0.1 * rng.standard_normal(lat2.shape)
    values = (np.clip(field, 0.0, None) * scale / (1 + spec.level_m / 1000)).astype(np.float64)
    if missing_fraction:
        values[rng.random(values.shape) < missing_fraction] = np.nan
    return values


def write_cams_grib(path: str | Path, specs: Sequence[FieldSpec], *, area: tuple[float, float, float, float] = FULL_AREA,
                    bits: int = 16, missing_fraction: float = 0.0, template: Path = TEMPLATE) -> int:
    """Write one message per spec; ``area`` is (N, W, S, E) of cell centres on the 0.1 degree grid. Returns bytes."""
    north, west, south, east = area
    nj, ni = round((north - south) * 10) + 1, round((east - west) * 10) + 1
    lats = np.round(north - 0.1 * np.arange(nj), 6)
    lons = np.round(west + 0.1 * np.arange(ni), 6)
    with open(template, "rb") as f:
        base = eccodes.codes_grib_new_from_file(f)
    written = 0
    try:
        eccodes.codes_set_long(base, "Ni", ni)
        eccodes.codes_set_long(base, "Nj", nj)
        for key, value in (("latitudeOfFirstGridPointInDegrees", north), ("latitudeOfLastGridPointInDegrees", south),
                           ("longitudeOfFirstGridPointInDegrees", west % 360), ("longitudeOfLastGridPointInDegrees", east % 360)):
            eccodes.codes_set_double(base, key, value)
        eccodes.codes_set_long(base, "bitsPerValue", bits)
        with open(path, "wb") as out:
            for spec in specs:
                sp = cams.SPECIES_BY_NAME[spec.variable]
                centre, sub_centre = cams.MODELS[spec.model]
                h = eccodes.codes_clone(base)
                try:
                    eccodes.codes_set_long(h, "centre", centre)
                    eccodes.codes_set_long(h, "subCentre", sub_centre)
                    eccodes.codes_set_long(h, "parameterNumber", sp.parameter_number)
                    eccodes.codes_set_long(h, "constituentType", sp.constituent_type)
                    if spec.level_m == 0:
                        eccodes.codes_set_long(h, "typeOfFirstFixedSurface", 1)
                        eccodes.codes_set_long(h, "scaledValueOfFirstFixedSurface", 0)
                    else:
                        eccodes.codes_set_long(h, "typeOfFirstFixedSurface", 103)
                        eccodes.codes_set_long(h, "scaleFactorOfFirstFixedSurface", 0)
                        eccodes.codes_set_long(h, "scaledValueOfFirstFixedSurface", spec.level_m)
                    eccodes.codes_set_long(h, "dataDate", int(spec.day.strftime("%Y%m%d")))
                    eccodes.codes_set_long(h, "dataTime", spec.hour * 100)
                    if spec.analysis:
                        eccodes.codes_set_long(h, "typeOfGeneratingProcess", 0)
                    eccodes.codes_set_long(h, "forecastTime", spec.step)
                    values = _values(spec, lats, lons, missing_fraction)
                    if missing_fraction:
                        eccodes.codes_set_long(h, "bitmapPresent", 1)
                        eccodes.codes_set_double(h, "missingValue", 9.999e20)
                        values = np.where(np.isnan(values), 9.999e20, values)
                    eccodes.codes_set_values(h, values.ravel())
                    message = eccodes.codes_get_message(h)
                    out.write(message)
                    written += len(message)
                finally:
                    eccodes.codes_release(h)
    finally:
        eccodes.codes_release(base)
    return written


def _list(request: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = request.get(key, default)
    return [value] if isinstance(value, (str, int, float)) else [str(v) for v in value]


def _days(items: list[str]) -> list[date]:
    days: list[date] = []
    try:
        for item in items:
            first, _, last = item.partition("/")
            start, end = date.fromisoformat(first), date.fromisoformat(last or first)
            if end < start:
                raise InvalidInput(f"date range {item!r} ends before it starts")
            days += [start + timedelta(days=i) for i in range((end - start).days + 1)]
    except ValueError as err:
        raise InvalidInput(f"invalid date in request: {err}") from err
    return days


def _snap_area(area: Sequence[float]) -> tuple[float, float, float, float]:
    """[N, W, S, E] snapped inward to 0.1-degree cell centres (x.x5), as the ADS does."""
    north, west, south, east = (float(v) for v in area)
    n = (np.floor((north - 0.05) * 10 + 1e-9) / 10 + 0.05).round(2)
    s = (np.ceil((south - 0.05) * 10 - 1e-9) / 10 + 0.05).round(2)
    w = (np.ceil((west - 0.05) * 10 - 1e-9) / 10 + 0.05).round(2)
    e = (np.floor((east - 0.05) * 10 + 1e-9) / 10 + 0.05).round(2)
    n, w, s, e = min(n, FULL_AREA[0]), max(w, FULL_AREA[1]), max(s, FULL_AREA[2]), min(e, FULL_AREA[3])
    if n < s or e < w:
        raise InvalidInput(f"area {list(area)} holds no grid point of the CAMS Europe grid")
    return float(n), float(w), float(s), float(e)


def grib_for_request(dataset: str, request: Mapping[str, Any]) -> bytes:
    """What the ADS would serve for a ``cams-europe-air-quality-forecasts`` request (forecast or analysis),
    generated here.

    The product source of the in-memory runner (``JACKFRUIT_RUNNER=memory``): validates like the stub
    (unknown dataset, variable, model or level is ``InvalidInput``) and honours dates, lead times and area.
    """
    if dataset != "cams-europe-air-quality-forecasts":
        raise InvalidInput(f"unknown dataset {dataset!r}")
    variables = list(cams.check_variables(_list(request, "variable", [])))
    models = _list(request, "model", ["ensemble"])
    unknown = [m for m in models if m not in cams.MODELS]
    if not variables or unknown:
        raise InvalidInput(f"invalid request: variable {variables or 'missing'}, unknown model(s) {unknown}")
    try:
        levels = [int(v) for v in _list(request, "level", ["0"])]
        steps = [int(v) for v in _list(request, "leadtime_hour", ["0"])]
    except ValueError as err:
        raise InvalidInput(f"invalid level or leadtime_hour in request: {err}") from err
    if any(lv not in cams.LEVELS_M for lv in levels) or any(not 0 <= h <= 96 for h in steps):
        raise InvalidInput(f"invalid request: levels {levels} / lead times {steps} outside the dataset's")
    area = _snap_area(request["area"]) if request.get("area") else FULL_AREA
    types = _list(request, "type", ["forecast"])
    if len(types) != 1 or types[0] not in ("forecast", "analysis"):
        raise InvalidInput(f"invalid request: type {types} (one of forecast, analysis)")
    try:
        hours = [int(str(t).partition(":")[0]) for t in _list(request, "time", ["00:00"])]
    except ValueError as err:
        raise InvalidInput(f"invalid time in request: {err}") from err
    specs = fields(_days(_list(request, "date", [])), models, variables, levels, steps, hours,
                   analysis=types[0] == "analysis")
    if not specs:
        raise InvalidInput("invalid request: no date")
    with tempfile.NamedTemporaryFile(suffix=".grib") as out:
        write_cams_grib(out.name, specs, area=area)
        return Path(out.name).read_bytes()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write CAMS-Europe-like GRIB2 (deterministic).")
    p.add_argument("path")
    p.add_argument("--day", default="2025-03-12")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--models", default="ensemble")
    p.add_argument("--variables", default=",".join(cams.MAIN_SPECIES))
    p.add_argument("--levels", default="0")
    p.add_argument("--steps", type=int, default=97, help="lead times 0..N-1 hours")
    p.add_argument("--bits", type=int, default=16)
    a = p.parse_args(argv)
    first = date.fromisoformat(a.day)
    specs = fields([first + timedelta(days=i) for i in range(a.days)], a.models.split(","), a.variables.split(","),
                   [int(x) for x in a.levels.split(",")], range(a.steps))
    size = write_cams_grib(a.path, specs, bits=a.bits)
    print(f"wrote {len(specs)} messages, {size} bytes to {a.path}")


if __name__ == "__main__":
    main()
