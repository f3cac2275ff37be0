"""Deterministic generator of GRIB2 encoded like real CAMS Europe, using ecCodes and a real message as template.

The template is the first message of the real ADS download kept in tests/data/grib (see its README
for provenance). Only keys are changed: centre/subCentre (model), parameterNumber/constituentType
(species), level, reference date, lead time, grid (when an area is given), packing bits and values.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable, Sequence

import eccodes
import numpy as np

from jackfruit.domain import cams

TEMPLATE = (Path(__file__).resolve().parents[2] / "tests" / "data" / "grib"
            / "cams-europe_ensemble_mugwort-pollen_2022-08-13to15_step0.grib")
FULL_AREA = (71.95, -24.95, 30.05, 44.95)  # N, W, S, E of grid-cell centres


@dataclass(frozen=True)
class FieldSpec:
    day: date
    model: str
    variable: str
    level_m: int
    step: int


def fields(days: Sequence[date], models: Sequence[str], variables: Sequence[str], levels: Sequence[int],
           steps: Iterable[int]) -> list[FieldSpec]:
    """ADS order: date, model, variable, level, lead time (innermost)."""
    steps = list(steps)
    return [FieldSpec(d, m, v, lv, s) for d in days for m in models for v in variables for lv in levels for s in steps]


def _values(spec: FieldSpec, lats: np.ndarray, lons: np.ndarray, missing_fraction: float) -> np.ndarray:
    sp = cams.SPECIES_BY_NAME[spec.variable]
    seed = int.from_bytes(hashlib.sha256(repr(spec).encode()).digest()[:8], "little")
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
                    eccodes.codes_set_long(h, "dataTime", 0)
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
