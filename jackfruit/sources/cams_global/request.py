"""A global CAMS request's fields, checked one by one as the ADS form has them, before any run is recorded.

Forecasts (``cams-global-atmospheric-composition-forecasts``): ``variable``, ``pressure_level``, ``model_level``,
``time`` (the 00 and 12 UTC cycles), ``leadtime_hour`` (0..120), ``type`` (forecast), ``data_format`` (grib),
``area`` [N, W, S, E]. EAC4 (``cams-global-reanalysis-eac4``): the same without ``leadtime_hour`` and ``type``, with
the analysis times 00:00 .. 21:00 every 3 hours. ``date`` comes from the partition day. Levels and lead times
may be integers; they come back as the strings the ADS expects.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from jackfruit.domain.acceptance import request_strings, show_value
from jackfruit.domain.errors import InvalidInput

from . import codes


@dataclass(frozen=True)
class RequestRules:
    variables: tuple[str, ...]
    times: tuple[int, ...]  # the UTC hours ``time`` may hold
    max_model_level: int
    max_leadtime: int | None  # None: no ``leadtime_hour`` nor ``type`` field (analyses)

    @property
    def fields(self) -> tuple[str, ...]:
        lists = ("variable", "pressure_level", "model_level", "time")
        return lists + (("leadtime_hour", "type") if self.max_leadtime is not None else ())



def _numbers(key: str, items: list[str], allowed: set[int], what: str) -> None:
    for item in items:
        if not re.fullmatch(r"0|[1-9][0-9]{0,3}", item) or int(item) not in allowed:
            raise InvalidInput(f"request field {key!r}: {item!r} is not one of {what}")


def _area(value: Any) -> list[float]:
    if (not isinstance(value, list) or len(value) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise InvalidInput(f"request field 'area' must be [north, west, south, east] in degrees, got {show_value(value)}")
    north, west, south, east = value
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 360 and east - west <= 360):
        raise InvalidInput(f"request field 'area' {show_value(value)} must be [north, west, south, east] with "
                           "-90 <= south < north <= 90 and -180 <= west < east <= 360")
    return value


def check_request(overrides: Mapping[str, Any], rules: RequestRules) -> dict[str, Any]:
    """The overrides, each field checked (``InvalidInput`` naming it), numbers written as strings."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key.startswith("_"):  # clients' cache-busting keys (e.g. _timestamp); the ADS ignores them
            out[key] = value
        elif key == "date":
            raise InvalidInput("request field 'date': the date comes from the partition day (--date); do not put it "
                               "in the request")
        elif key in rules.fields:
            items = request_strings(key, value, numeric=key in ("pressure_level", "model_level", "leadtime_hour"))
            _check_list(key, items, rules)
            out[key] = items if isinstance(value, list) else items[0]
        elif key in ("data_format", "format"):
            if request_strings(key, value, numeric=False) != ["grib"]:
                raise InvalidInput(f"request field {key!r} must be \"grib\" (jackfruit transforms GRIB), "
                                   f"got {show_value(value)}")
            out[key] = value
        elif key == "area":
            out[key] = _area(value)
        else:
            raise InvalidInput(f"request field {key!r} is unknown; known fields: "
                               f"{', '.join((*rules.fields, 'area', 'data_format'))}")
    return out


def _check_list(key: str, items: list[str], rules: RequestRules) -> None:
    if key == "variable":
        codes.check_variables(items, rules.variables)
    elif key == "pressure_level":
        _numbers(key, items, set(codes.PRESSURE_LEVELS), f"the pressure levels {list(codes.PRESSURE_LEVELS)} (hPa)")
    elif key == "model_level":
        _numbers(key, items, set(range(1, rules.max_model_level + 1)), f"the model levels 1..{rules.max_model_level}")
    elif key == "leadtime_hour":
        _numbers(key, items, set(range((rules.max_leadtime or 0) + 1)), f"0..{rules.max_leadtime} (hours)")
    elif key == "type" and items != ["forecast"]:
        raise InvalidInput(f"request field 'type': {items} (this dataset has forecasts only)")
    elif key == "time":
        allowed = [f"{h:02d}:00" for h in rules.times]
        bad = [t for t in items if t not in allowed]
        if bad:
            raise InvalidInput(f"request field 'time': {bad} (allowed: {', '.join(allowed)})")
