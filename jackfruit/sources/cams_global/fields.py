"""How a global CAMS request expands into the fields the upstream answers with, and the inverse.

The upstream answers with what each variable has, not with the full product of the request's lists: a
single-level variable (pm2.5, total columns...) only at the surface, whatever pressure or model levels the request
lists; a multi-level variable (no2, ozone...) only on the requested pressure and model levels; and, in the
forecasts, multi-level fields only every ``multi_level_step`` hours of lead time (3: the global sample holds
pm2.5/pm10 at every hour 0..95 and no2 at 0, 3 .. 93 for the same request). The expected set is the request
intersected with those rules, so a faithful answer is accepted and anything else is still named as missing or
unexpected.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from jackfruit.domain import levels
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.acceptance import FieldKey, request_dates, request_hours, request_ints, request_items

from . import codes


def levels_of(variable: codes.Variable, request: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (level type, value) pairs the upstream answers ``variable`` on."""
    if variable.kind == codes.SINGLE:
        return [(levels.SURFACE, 0)]
    return ([(levels.PRESSURE, p) for p in request_ints(request, "pressure_level", [])] if "pressure_level" in request
            else []) + ([(levels.MODEL, m) for m in request_ints(request, "model_level", [])] if "model_level" in request
                        else [])


def expected_fields(request: Mapping[str, Any], forecast: bool, multi_level_step: int) -> tuple[list[FieldKey], int]:
    """The fields a request is answered with (each once); ``forecast`` False: analyses, lead time 0."""
    steps = request_ints(request, "leadtime_hour", ["0"]) if forecast else [0]
    keys = []
    for day in request_dates(request):
        for hour in request_hours(request):
            for name in request_items(request, "variable", []):
                variable = codes.VARIABLES.get(name)
                if variable is None:
                    raise InvalidInput(f"request field 'variable': {name!r} is not a variable of the CAMS global "
                                       "products")
                for kind, level in levels_of(variable, request):
                    for step in steps:
                        if variable.kind == codes.SINGLE or step % multi_level_step == 0:
                            keys.append(FieldKey(day, hour, codes.MODEL, name, level, step, kind))
    return keys, 1


def request_from_fields(fields: Sequence[FieldKey], forecast: bool) -> dict[str, Any]:
    """The request (without date and area) whose answer holds ``fields``."""
    out: dict[str, Any] = {"variable": sorted({k.variable for k in fields})}
    for kind, key in ((levels.PRESSURE, "pressure_level"), (levels.MODEL, "model_level")):
        values = sorted({k.level_m for k in fields if k.level_type == kind})
        if values:
            out[key] = [str(v) for v in values]
    out["time"] = [f"{h:02d}:00" for h in sorted({k.hour for k in fields})]
    if forecast:
        out["leadtime_hour"] = [str(v) for v in sorted({k.step for k in fields})]
        out["type"] = ["forecast"]
    out["data_format"] = "grib"
    return out
