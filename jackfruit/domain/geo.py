"""Bounding boxes and time ranges, with the exact intersection rules the catalog and reads share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import InvalidInput


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"bbox {name} must be a number, got {value!r}") from err
    if not math.isfinite(value):
        raise InvalidInput(f"bbox {name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class BBox:
    """``(west, south, east, north)`` in degrees; longitudes -180..180, south <= north.

    ``west > east`` is a box that crosses the antimeridian: longitudes west..180 and -180..east (``parts``).
    Longitude -180 and 180 are one meridian: a box reaching 180 meets whatever reaches -180. A zero-area box
    (a point or a line) is allowed. A box is closed: a grid point whose centre lies on its edge is inside.
    """

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        w, s, e, n = (_finite(k, getattr(self, k)) for k in ("west", "south", "east", "north"))
        for name, v in (("west", w), ("east", e)):
            if not -180.0 <= v <= 180.0:
                raise InvalidInput(f"bbox {name}={v} is outside -180..180 (use -180..180 longitudes)")
        for name, v in (("south", s), ("north", n)):
            if not -90.0 <= v <= 90.0:
                raise InvalidInput(f"bbox {name}={v} is outside -90..90")
        if s > n:
            raise InvalidInput(f"bbox is inverted: south={s} > north={n}")
        object.__setattr__(self, "west", w)
        object.__setattr__(self, "south", s)
        object.__setattr__(self, "east", e)
        object.__setattr__(self, "north", n)

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """Parse ``"west,south,east,north"`` (``west > east``: a box across the antimeridian)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise InvalidInput(f"bbox must be 'west,south,east,north', got {text!r}")
        for name, part in zip(("west", "south", "east", "north"), parts):
            if not part.isascii():  # float() would read full-width or other scripts' digits
                raise InvalidInput(f"bbox {name} must be a number written in ASCII, got {part!r}")
        return cls(*(_finite(k, p) for k, p in zip(("west", "south", "east", "north"), parts)))

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    @property
    def width(self) -> float:
        """Degrees of longitude from west eastwards to east (less than 360 for a crossing box)."""
        return self.east - self.west + (360.0 if self.crosses_antimeridian else 0.0)

    def parts(self) -> tuple["BBox", ...]:
        """The box as one or two boxes that do not cross the antimeridian: itself, or west..180 and -180..east.
        The one split rule: the catalogs search these, ``intersects`` compares them."""
        if not self.crosses_antimeridian:
            return (self,)
        return (BBox(self.west, self.south, 180.0, self.north), BBox(-180.0, self.south, self.east, self.north))

    def search_parts(self) -> tuple["BBox", ...]:
        """What a catalog's index is searched with: ``parts()``, plus the antimeridian as a line on its other
        side when a part reaches it and none starts there (a box reaching 180 meets an extent starting at -180,
        and the other way round: one meridian). Searching each, de-duplicated, then filtering with
        ``intersects``, finds exactly the extents this box meets."""
        parts = self.parts()
        west_edge = any(p.west == -180.0 for p in parts)
        east_edge = any(p.east == 180.0 for p in parts)
        extra: tuple[BBox, ...] = ()
        if east_edge and not west_edge:
            extra = (BBox(-180.0, self.south, -180.0, self.north),)
        elif west_edge and not east_edge:
            extra = (BBox(180.0, self.south, 180.0, self.north),)
        return parts + extra

    def contains_point(self, lon: float, lat: float) -> bool:
        """``lon`` in any frame (0..360 too): a whole number of turns is taken off to bring it to -180..180."""
        if not self.south <= lat <= self.north:
            return False
        if not -180.0 <= lon <= 180.0:
            lon = math.fmod(lon + 180.0, 360.0)
            lon = (lon + 360.0 if lon < 0 else lon) - 180.0
        if lon in (-180.0, 180.0):  # one meridian
            return any(p.west == -180.0 or p.east == 180.0 for p in self.parts())
        return any(p.west <= lon <= p.east for p in self.parts())

    def intersects(self, extent: "BBox") -> bool:
        """True when this closed box and the closed ``extent`` (a tile's points plus half a grid step) share
        a point: the catalog's one spatial predicate. A box touching an extent's edge matches; the reader
        then decides which grid points the box selects (``jackfruit.domain.selection``). Either may cross
        the antimeridian (compared by ``parts``); a box reaching 180 meets an extent reaching -180."""
        if not (self.south <= extent.north and self.north >= extent.south):
            return False
        mine, theirs = self.parts(), extent.parts()
        if any(a.west <= b.east and a.east >= b.west for a in mine for b in theirs):
            return True
        return ((any(a.east == 180.0 for a in mine) and any(b.west == -180.0 for b in theirs))
                or (any(a.west == -180.0 for a in mine) and any(b.east == 180.0 for b in theirs)))


def utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused rather than guessed."""
    if value.tzinfo is timezone.utc:  # already: what every adapter reads back (the hot path of find_tiles)
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"datetime {value.isoformat()} has no timezone; jackfruit times are UTC-aware")
    return value.astimezone(timezone.utc)


def parse_time(text: str) -> datetime:
    """Parse ISO-8601; a date or a time without zone is read as UTC (documented CLI convenience)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidInput(f"not an ISO-8601 time: {text!r}") from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = utc(self.start), utc(self.end)
        if start >= end:
            raise InvalidInput(f"time range start {start.isoformat()} is not before end {end.isoformat()}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end

    def overlaps(self, first: datetime, last: datetime) -> bool:
        """True when the closed span ``[first, last]`` (a tile's valid times) meets this range."""
        first, last = utc(first), utc(last)
        return self.start <= last and first < self.end
