"""How a CAMS Europe request expands into fields, and the inverse (the request a set of fields answers)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from jackfruit.domain.acceptance import FieldKey, request_dates, request_hours, request_items, request_ints

#: the CAMS Europe domain's cell edges (N, W, S, E): what a request without ``area`` asks for
DOMAIN = (72.0, -25.0, 30.0, 45.0)


def expected_fields(request: Mapping[str, Any], default_type: str) -> tuple[list[FieldKey], int]:
    """The fields a request asks for (ADS defaults where a list is absent) and how many times each (one message
    per requested type: forecast and analysis messages carry the same field key)."""
    axes = (request_dates(request), request_hours(request), request_items(request, "model", ["ensemble"]),
            request_items(request, "variable", []), request_ints(request, "level", ["0"]),
            request_ints(request, "leadtime_hour", ["0"]))
    keys = [FieldKey(d, h, m, v, lv, s) for d in axes[0] for h in axes[1] for m in axes[2] for v in axes[3]
            for lv in axes[4] for s in axes[5]]
    return keys, len(request_items(request, "type", [default_type]))


def request_from_fields(fields: Sequence[FieldKey], request_type: str) -> dict[str, Any]:
    """The request (without date and area) whose answer holds ``fields``."""
    return {
        "variable": sorted({k.variable for k in fields}),
        "model": sorted({k.model for k in fields}),
        "level": [str(v) for v in sorted({k.level_m for k in fields})],
        "type": [request_type],
        "time": [f"{h:02d}:00" for h in sorted({k.hour for k in fields})],
        "leadtime_hour": [str(v) for v in sorted({k.step for k in fields})],
        "data_format": "grib",
    }
