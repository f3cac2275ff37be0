"""The one rule naming a message of ECMWF's global CAMS products (forecasts and EAC4 alike): centre ecmf, a
variable of the code table (GRIB1 or GRIB2, ``codes.variable_for``), a typed level, a reference time on the hour,
an instantaneous field. Acceptance and tile planning both apply it, through the profile."""

from __future__ import annotations

from jackfruit.domain import levels
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.tiling import GribMessage, MessageField

from . import codes

#: (edition, the edition's level type code, ecCodes typeOfLevel) -> jackfruit's level type. GRIB1 code table 3
#: (1 surface, 100 isobaric, 109 hybrid) and GRIB2 code table 4.5 (1, 100, 105); ecCodes' ``level`` is in hPa
#: only for typeOfLevel isobaricInhPa (isobaricInPa levels, below 1 hPa, are none of these datasets').
LEVEL_TYPES = {
    (1, 1, "surface"): levels.SURFACE, (2, 1, "surface"): levels.SURFACE,
    (1, 100, "isobaricInhPa"): levels.PRESSURE, (2, 100, "isobaricInhPa"): levels.PRESSURE,
    (1, 109, "hybrid"): levels.MODEL, (2, 105, "hybrid"): levels.MODEL,
}


def level_of(msg: GribMessage) -> tuple[str, int]:
    """(level type, value): ("surface", 0), ("pressure", hPa) or ("model", model level number)."""
    kind = LEVEL_TYPES.get((msg.edition, msg.level_type, msg.type_of_level))
    if kind is None:
        raise InvalidInput(f"{msg.where}: GRIB{msg.edition} level type {msg.level_type} "
                           f"({msg.type_of_level or 'not named'}) is not surface, isobaric (hPa) or hybrid")
    return kind, (0 if kind == levels.SURFACE else msg.level)


def name_message(msg: GribMessage) -> MessageField:
    """``InvalidInput`` naming the message and its first problem, else its field."""
    if msg.centre != codes.ECMWF_CENTRE:
        raise InvalidInput(f"{msg.where}: centre {msg.centre}; CAMS global products are ECMWF's (centre 98, ecmf)")
    variable = codes.variable_for(msg.where, msg.edition, msg.discipline, msg.category, msg.number,
                                  msg.constituent_type, msg.template, msg.table2_version, msg.indicator_of_parameter)
    if msg.step_type not in ("", "instant"):
        raise InvalidInput(f"{msg.where}: step type {msg.step_type!r}; {variable.name} is an instantaneous field")
    kind, level = level_of(msg)
    if (kind == levels.SURFACE) != (variable.kind == codes.SINGLE):
        raise InvalidInput(f"{msg.where}: {variable.name} is a "
                           f"{'single-level' if variable.kind == codes.SINGLE else 'multi-level'} variable, "
                           f"the message is on a {kind} level")
    ref = msg.reference_time
    if ref.minute or ref.second:
        raise InvalidInput(f"{msg.where}: reference time {ref.isoformat()} is not on the hour")
    return MessageField(codes.MODEL, variable.name, level, ref, msg.step_hours, kind)
