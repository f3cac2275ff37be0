"""The names ecCodes gives a message (paramId, shortName, typeOfLevel, stepType, dataType), looked up once per
distinct header.

ecCodes evaluates these keys by matching its concept tables: 0.05-0.3 ms per key and message, 0.6 ms when no
entry matches (CAMS Europe's GRIB2: paramId 0), which would double a scan. A file repeats a few headers at
many times, so the names are cached under the header's bytes with only the times blanked: everything up to
the end of GRIB2 section 4 (product definition) but the total length, the reference time and forecastTime;
GRIB1's product definition section but the reference time and, where timeRangeIndicator says they hold only
the lead time (0, 1, 10), P1 and P2. The names cannot depend on what is blanked (a time is not a name), and
two headers that differ anywhere else are looked up apart: a cache hit gives what ecCodes would answer.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import eccodes

#: GribMessage field -> the ecCodes key it reports (``jackfruit.domain.tiling.GRIB_NAMES``)
NAME_KEYS = {"param_id": "paramId", "short_name": "shortName", "type_of_level": "typeOfLevel",
             "step_type": "stepType", "data_type": "dataType"}

_GRIB1_REFERENCE_TIME = (12, 13, 14, 15, 16, 24)  # PDS octets 13-17 (YY MM DD hh mm) and 25 (century), 0-based
_GRIB1_P1_P2 = (18, 19)  # PDS octets 19-20
_GRIB1_STEP_ONLY = {0, 1, 10}  # timeRangeIndicator: P1 (and P2 for 10) are the lead time, nothing else
_GRIB2_REFERENCE_TIME = range(16 + 12, 16 + 19)  # section 1 (at byte 16) octets 13-19: year (2) .. second
_GRIB2_TOTAL_LENGTH = range(8, 16)  # section 0 octets 9-16


class HeaderNames:
    """Per scan: ``names(h, offset)`` = {ecCodes key: value} of the ``keys`` asked for (of NAME_KEYS' values) for
    the message at ``offset`` of the file, read through ``get(h, key, default)`` on a miss; {} without a lookup
    when none is asked for. Opens the file for reading the headers' bytes."""

    def __init__(self, path: str, get: Callable[[Any, str, Any], Any], keys: tuple[str, ...]) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._get = get
        self._keys = keys
        self._cache: dict[bytes, dict[str, Any]] = {}
        self.hits = 0

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "HeaderNames":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self, h: Any, offset: int) -> dict[str, Any]:
        if not self._keys:
            return {}
        key = self._identity(h, offset)
        if key is not None and key in self._cache:
            self.hits += 1
            return self._cache[key]
        names = {k: self._get(h, k, None) for k in self._keys}
        if key is not None:
            self._cache[key] = names
        return names

    def _identity(self, h: Any, offset: int) -> bytes | None:
        """The header's bytes with the times blanked, or None when they cannot be read (no caching then)."""
        get = self._get
        edition = get(h, "edition", None)
        if edition == 1:
            length = get(h, "section1Length", None)
            if not length or length < 28:
                return None
            body = bytearray(os.pread(self._fd, length, offset + 8))
            blank = _GRIB1_REFERENCE_TIME + (_GRIB1_P1_P2 if get(h, "timeRangeIndicator", None) in _GRIB1_STEP_ONLY
                                             else ())
            prefix = b"1"
        elif edition == 2:
            start, length = get(h, "offsetSection4", None), get(h, "section4Length", None)
            if start is None or not length:
                return None
            body = bytearray(os.pread(self._fd, start + length, offset))
            blank = (*_GRIB2_TOTAL_LENGTH, *_GRIB2_REFERENCE_TIME)
            try:
                at = eccodes.codes_get_offset(h, "forecastTime")
            except eccodes.GribInternalError:
                at = None
            if at is not None and start <= at <= start + length - 4:
                blank += (at, at + 1, at + 2, at + 3)
            prefix = b"2"
        else:
            return None
        if len(body) < max(blank) + 1:
            return None  # the file ends inside the header: the scan refuses it anyway
        for i in blank:
            body[i] = 0
        return prefix + bytes(body)
