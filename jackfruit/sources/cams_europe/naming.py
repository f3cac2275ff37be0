"""The one rule naming a CAMS Europe GRIB message (acceptance and tile planning both apply it, through the profile)."""

from __future__ import annotations

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.tiling import GribMessage, MessageField

from . import codes

SURFACE = 1  # typeOfFirstFixedSurface: ground or water surface
HEIGHT_ABOVE_GROUND = 103
CHEMICAL_TEMPLATE = 40  # productDefinitionTemplateNumber 4.40


def name_message(msg: GribMessage) -> MessageField:
    """GRIB2, product definition template 4.40, a species and a model of the code table, surface or height above
    ground, a reference time on the hour. ``InvalidInput`` naming the message and its first problem otherwise."""
    if msg.edition != 2:
        raise InvalidInput(f"{msg.where}: GRIB edition {msg.edition}; CAMS Europe is GRIB2")
    if msg.template != CHEMICAL_TEMPLATE:
        raise InvalidInput(f"{msg.where}: product definition template {msg.template}; CAMS Europe fields use "
                           f"template {CHEMICAL_TEMPLATE} (instantaneous chemical constituent)")
    species = codes.species_for(msg.where, msg.discipline, msg.category, msg.number, msg.constituent_type)
    model = codes.model_for(msg.where, msg.centre, msg.sub_centre)
    if msg.level_type not in (SURFACE, HEIGHT_ABOVE_GROUND):
        raise InvalidInput(f"{msg.where}: level type {msg.level_type} is neither surface (1) nor height above "
                           "ground (103)")
    ref = msg.reference_time
    if ref.minute or ref.second:
        raise InvalidInput(f"{msg.where}: reference time {ref.isoformat()} is not on the hour")
    level = 0 if msg.level_type == SURFACE else msg.level
    return MessageField(model, species.name, level, ref, msg.step_hours)
