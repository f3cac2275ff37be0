"""Typed vertical levels: a level is a kind and a whole-number value in the kind's unit. One module names them for
tiles, tile keys, the catalog, searches and reads.

- ``height``: metres above ground (CAMS Europe: 0, 50, ... 5000 m; its 0 m level is the ground, as the ADS names it)
- ``surface``: the ground or sea surface (value 0)
- ``pressure``: an isobaric level in hPa
- ``model``: a model (hybrid) level number
Tiles made before levels were typed (transformation versions 1-4) are ``height`` levels."""

from __future__ import annotations

from .errors import InvalidInput

HEIGHT, SURFACE, PRESSURE, MODEL = "height", "surface", "pressure", "model"
LEVEL_TYPES = (HEIGHT, SURFACE, PRESSURE, MODEL)
UNITS = {HEIGHT: "m", SURFACE: "1", PRESSURE: "hPa", MODEL: "1"}
_LONG = {HEIGHT: "height above ground", SURFACE: "surface", PRESSURE: "pressure level", MODEL: "model level"}


def check_level_type(level_type: str) -> str:
    if level_type not in LEVEL_TYPES:
        raise InvalidInput(f"level type {level_type!r} is not one of {list(LEVEL_TYPES)}")
    return level_type


def segment(level_type: str, value: int) -> str:
    """The tile key's level segment: ``50m`` (height, as since version 1), ``surface``, ``1000hPa``, ``ml60``."""
    check_level_type(level_type)
    value = int(value)
    if level_type == SURFACE:
        if value != 0:
            raise InvalidInput(f"a surface level has value 0, not {value}")
        return "surface"
    if value < 0:
        raise InvalidInput(f"a {_LONG[level_type]} is not negative, got {value}")
    return {HEIGHT: f"{value}m", PRESSURE: f"{value}hPa", MODEL: f"ml{value}"}[level_type]


def describe(level_type: str, value: int) -> str:
    """For messages: ``50 m``, ``surface``, ``1000 hPa``, ``model level 60``."""
    return {HEIGHT: f"{value} m", SURFACE: "surface", PRESSURE: f"{value} hPa",
            MODEL: f"model level {value}"}[check_level_type(level_type)]


def parse(text: str) -> tuple[str, int]:
    """A level as users write it (``--level``): ``50`` or ``50m`` (height), ``surface``, ``1000hPa``, ``ml60``."""
    t = text.strip()
    if not t.isascii():  # int() would read full-width or other scripts' digits
        raise InvalidInput(f"level {text!r} must be written in ASCII: 50 or 50m (height), surface, 1000hPa, ml60")
    try:
        if t == "surface":
            return SURFACE, 0
        if t.endswith("hPa"):
            return PRESSURE, int(t[:-3])
        if t.startswith("ml"):
            return MODEL, int(t[2:])
        return HEIGHT, int(t[:-1] if t.endswith("m") else t)
    except ValueError:
        raise InvalidInput(f"level {text!r} is not a level: 50 or 50m (height), surface, 1000hPa, ml60") from None
