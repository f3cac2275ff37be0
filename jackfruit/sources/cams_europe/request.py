"""The CAMS Europe request, field by field, as the ADS checks it: refused before any run is recorded. Also the
dataset's other input rules: the last partition day the ADS can have (``available_until``), its models
(``check_model``) and levels (``check_level``)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from typing import Any, Callable

from . import codes as cams
from jackfruit.domain.acceptance import request_strings, show_value
from jackfruit.domain.errors import InvalidInput



def _check_hour_list(key: str, items: list[str], allowed: Callable[[int], bool], what: str) -> None:
    for item in items:
        if not re.fullmatch(r"0|[1-9][0-9]{0,3}", item) or not allowed(int(item)):
            raise InvalidInput(f"request field {key!r}: {item!r} is not one of {what}")


_CAMS_LIST_FIELDS = ("variable", "model", "level", "type", "time", "leadtime_hour")


def check_request(overrides: dict[str, Any], default_type: str = "forecast") -> dict[str, Any]:
    """Types and values of a CAMS Europe request's fields, as the ADS checks them, before any run is recorded.

    Returns the overrides with integer levels and lead times written as the strings the ADS expects.
    """
    out: dict[str, Any] = {}
    lists: dict[str, list[str]] = {}
    for key, value in overrides.items():
        if key.startswith("_"):  # clients' cache-busting keys (e.g. _timestamp); the ADS ignores them
            out[key] = value
        elif key == "date":
            raise InvalidInput("request field 'date': the date comes from the partition day (--date); do not put it "
                               "in the request")
        elif key in _CAMS_LIST_FIELDS:
            items = request_strings(key, value, numeric=key in ("level", "leadtime_hour"))
            lists[key] = items
            out[key] = items if isinstance(value, list) else items[0]
        elif key in ("data_format", "format"):
            items = request_strings(key, value, numeric=False)
            if items != ["grib"]:
                raise InvalidInput(f"request field {key!r} must be \"grib\" (jackfruit transforms GRIB), "
                                   f"got {show_value(value)}")
            out[key] = value
        elif key == "area":
            if (not isinstance(value, list) or len(value) != 4
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                               for v in value)):
                raise InvalidInput(f"request field 'area' must be [north, west, south, east] in degrees, "
                                   f"got {show_value(value)}")
            north, west, south, east = value
            if not (30 <= south < north <= 72 and -25 <= west < east <= 45):
                raise InvalidInput(f"request field 'area' {show_value(value)} must be [north, west, south, east] "
                                   "with south < north within 30..72 and west < east within -25..45")
            out[key] = value
        else:
            raise InvalidInput(f"request field {key!r} is unknown; known fields: "
                               f"{', '.join((*_CAMS_LIST_FIELDS, 'area', 'data_format'))}")
    unknown = [v for v in lists.get("variable", []) if v not in cams.SPECIES_BY_NAME]
    if unknown:
        raise InvalidInput(f"request field 'variable': unknown variable(s) {unknown}")
    unknown = [m for m in lists.get("model", []) if m not in cams.MODELS]
    if unknown:
        raise InvalidInput(f"request field 'model': unknown model(s) {unknown}; known: {sorted(cams.MODELS)}")
    types = lists.get("type", [default_type])
    bad = [t for t in types if t not in ("forecast", "analysis")]
    if bad:
        raise InvalidInput(f"request field 'type': {bad} (allowed: forecast, analysis)")
    _check_hour_list("level", lists.get("level", []), lambda n: n in cams.LEVELS_M,
                     f"the levels {list(cams.LEVELS_M)} (metres)")
    _check_hour_list("leadtime_hour", lists.get("leadtime_hour", []),
                     (lambda n: n == 0) if "analysis" in types else (lambda n: 0 <= n <= 96),
                     "0 (analysis)" if "analysis" in types else "0..96")
    for item in lists.get("time", []):
        if not re.fullmatch(r"(?:[01][0-9]|2[0-3]):00", item) or ("forecast" in types and item != "00:00"):
            raise InvalidInput(f"request field 'time': {item!r} (want HH:00; forecasts run only at 00:00)")
    return out


def available_until(now: datetime) -> date:
    """The last partition day the ADS can have at ``now``: the forecast of a day starts at 00 UTC of that day, so
    no day after today (UTC) exists yet (today's may not be published yet either: the ingester waits for it)."""
    return now.astimezone(timezone.utc).date()


def check_model(model: str) -> str:
    """A model the dataset has (``cams.MODELS``); the error names the known ones."""
    if model not in cams.MODELS:
        raise InvalidInput(f"model {model!r} is not a CAMS Europe model; known: {sorted(cams.MODELS)}")
    return model


def check_level(level_m: int) -> int:
    """A level the dataset has, in metres above ground (``cams.LEVELS_M``)."""
    if level_m not in cams.LEVELS_M:
        raise InvalidInput(f"level {level_m} is not a CAMS Europe level; known (metres): {list(cams.LEVELS_M)}")
    return level_m
