"""Object keys: the raw key pattern ``{source}/{dataset}/{YYYY-MM-DD}/{run_id}.{ext}`` and tile keys.

The Go ingester re-validates raw keys with exactly the same rule (``ingest-go/internal/keys``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from .errors import InvalidInput
from . import levels
from .geo import utc

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_EXT = re.compile(r"[a-z0-9]{1,8}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_name(what: str, value: str) -> str:
    """A key part that names something: lowercase, digits, ``.-_`` inside, never ``..``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise InvalidInput(
            f"{what} {value!r} is not a valid key part: use lowercase letters, digits and '.-_' "
            "(not first or last, no '..')"
        )
    return value


def check_run_id(value: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise InvalidInput(f"run id {value!r} is not a lowercase canonical UUIDv7")
    return value


def _check_ext(value: str) -> str:
    if not isinstance(value, str) or not _EXT.fullmatch(value):
        raise InvalidInput(f"extension {value!r} must be 1-8 lowercase letters or digits")
    return value


@dataclass(frozen=True)
class RawKey:
    source: str
    dataset: str
    day: date
    run_id: str
    ext: str

    def __post_init__(self) -> None:
        check_name("source", self.source)
        check_name("dataset", self.dataset)
        check_run_id(self.run_id)
        _check_ext(self.ext)
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise InvalidInput(f"raw key day must be a date, got {self.day!r}")

    def __str__(self) -> str:
        return f"{self.source}/{self.dataset}/{self.day.isoformat()}/{self.run_id}.{self.ext}"

    @classmethod
    def parse(cls, key: str) -> "RawKey":
        """Parse and validate; anything that could escape the pattern is refused."""
        if not isinstance(key, str) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
            raise InvalidInput(f"raw key {key!r} contains control characters")
        parts = key.split("/")
        if len(parts) != 4:
            raise InvalidInput(f"raw key {key!r} must have exactly 4 parts: source/dataset/YYYY-MM-DD/run_id.ext")
        source, dataset, day_text, leaf = parts
        if not _DATE.fullmatch(day_text):
            raise InvalidInput(f"raw key {key!r}: date part {day_text!r} is not YYYY-MM-DD")
        try:
            day = date.fromisoformat(day_text)
        except ValueError as err:
            raise InvalidInput(f"raw key {key!r}: {day_text!r} is not a calendar date") from err
        run_id, dot, ext = leaf.partition(".")
        if not dot:
            raise InvalidInput(f"raw key {key!r}: leaf {leaf!r} has no extension")
        parsed = cls(source, dataset, day, run_id, ext)
        if str(parsed) != key:
            raise InvalidInput(f"raw key {key!r} is not in canonical form")
        return parsed


def new_uuid7(unix_ms: int, rand: bytes) -> str:
    """Build a UUIDv7 (RFC 9562) from a millisecond timestamp and 10 random bytes."""
    if len(rand) != 10:
        raise ValueError("UUIDv7 needs 10 random bytes")
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError("UUIDv7 timestamp out of range")
    value = bytearray(unix_ms.to_bytes(6, "big") + rand)
    value[6] = (value[6] & 0x0F) | 0x70
    value[8] = (value[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(value)))


def tile_key(
    dataset: str, variable: str, model: str, level_m: int, reference_time: datetime, cell_id: str, run_id: str,
    version: str, attempt_id: str, level_type: str = "height",
) -> str:
    """Curated key of one tile (a Zarr group, i.e. a prefix of several objects).

    The transformation version and the attempt are part of the key, so two attempts (or two versions)
    never write to the same objects: ``.../{cell}/{run_id}/v{version}-{attempt_id}.zarr``.
    """
    for what, value in (("dataset", dataset), ("variable", variable), ("model", model), ("cell", cell_id)):
        check_name(what, value)
    check_run_id(run_id)
    check_run_id(attempt_id)
    if not isinstance(version, str) or not re.fullmatch(r"[0-9]{1,4}", version):
        raise InvalidInput(f"transformation version {version!r} must be 1-4 digits")
    return (
        f"tiles/{dataset}/{variable}/{model}/{levels.segment(level_type, level_m)}/"
        f"{utc(reference_time).strftime('%Y%m%dT%H%MZ')}/{cell_id}/{run_id}/v{version}-{attempt_id}.zarr"
    )


_TILE_LEAF = re.compile(r"/([0-9a-f-]{36})/v[0-9]{1,4}-(" + _UUID.pattern + r")\.zarr(?:/|$)")


def tile_attempt(key: str) -> str | None:
    """The attempt id inside a tile key or a tile object's key (``None`` for keys of other layouts)."""
    m = _TILE_LEAF.search(key)
    return m.group(2) if m else None


def tile_prefix(key: str) -> str | None:
    """The tile key (group prefix) an object key belongs to, for keys of this layout."""
    m = _TILE_LEAF.search(key)
    return key[:m.end()].rstrip("/") if m else None
