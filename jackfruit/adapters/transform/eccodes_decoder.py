"""EccodesGribDecoder: message-by-message GRIB decoding with ecCodes itself (the losslessness reference).

cfgrib is not used here on purpose: it merges messages into hypercubes and can drop fields
silently (docs/adr/0001-decode-with-eccodes.md). Here every message is accounted for.

GRIB1 and GRIB2 messages (also mixed in one file) are both scanned and decoded, whatever their packing
(simple, CCSDS, ...): ``GribMessage`` reports each with the keys a source profile names it by (paramId, the
GRIB1 table and parameter, the GRIB2 discipline/category/number/constituent, ecCodes' typeOfLevel and level,
dataType, stepType, packingType). ``level_type`` is the edition's own code (GRIB2 typeOfFirstFixedSurface,
GRIB1 indicatorOfTypeOfLevel); profiles type a level with ``type_of_level`` + ``level``, the same in both.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import AbstractSet, Any, Sequence

from jackfruit.adapters import _load_order  # noqa: F401 - libpq before ecCodes' libraries: see there

import eccodes  # noqa: E402
import numpy as np

from jackfruit.adapters.transform.grib_headers import HeaderRecords
from jackfruit.adapters.transform.grib_names import NAME_KEYS, HeaderNames
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.tiling import GRIB_NAMES, GribMessage, RegularGrid, check_grib_names

#: Seconds per time unit, for the units a whole number of hours can be written in: GRIB2 code table 4.4
#: (indicatorOfUnitOfTimeRange) and GRIB1 code table 4 (unitOfTimeRange); they differ from 13 on.
_SECONDS_PER_UNIT = {
    2: {0: 60, 1: 3600, 2: 86400, 10: 3 * 3600, 11: 6 * 3600, 12: 12 * 3600, 13: 1},
    1: {0: 60, 1: 3600, 2: 86400, 10: 3 * 3600, 11: 6 * 3600, 12: 12 * 3600, 13: 900, 14: 1800, 254: 1},
}
_GRIB1_TWO_OCTET_P1 = 10  # GRIB1 timeRangeIndicator 10: P1 spans octets 19-20 (P1 * 256 + P2)


def _get(h: Any, key: str, default: Any = None) -> Any:
    """The key's value, or ``default`` when the message does not define it or codes it as missing."""
    try:
        if key in _STR_KEYS:
            return eccodes.codes_get_string(h, key)
        value = eccodes.codes_get_long(h, key)
    except eccodes.GribInternalError:  # KeyValueNotFoundError and friends: not defined here
        return default
    # a long equal to ecCodes' missing marker may be "missing" or a real value: only then ask
    if value == _MISSING_LONG and eccodes.codes_is_missing(h, key):
        return default
    return value


_MISSING_LONG = eccodes.CODES_MISSING_LONG


_STR_KEYS = {"gridType", "typeOfLevel", "packingType", "dataType", "shortName", "stepType"}


def _grid(h: Any) -> tuple[str, RegularGrid | None]:
    grid_type = _get(h, "gridType", "unknown")
    if grid_type != "regular_ll":
        return grid_type, None
    if _get(h, "iScansNegatively") or _get(h, "jPointsAreConsecutive"):
        return f"{grid_type} with scanningMode {_get(h, 'scanningMode')}", None
    g = {k: eccodes.codes_get_double(h, k) for k in (
        "latitudeOfFirstGridPointInDegrees", "longitudeOfFirstGridPointInDegrees",
        "latitudeOfLastGridPointInDegrees", "longitudeOfLastGridPointInDegrees",
        "iDirectionIncrementInDegrees", "jDirectionIncrementInDegrees")}
    nx, ny = _get(h, "Ni"), _get(h, "Nj")
    dlon = g["iDirectionIncrementInDegrees"]
    dlat = g["jDirectionIncrementInDegrees"] * (1 if _get(h, "jScansPositively") else -1)
    # the file's first longitude brought to -180..180; the columns run east from it as the file has them
    # (0..359.6 for a 0..360 grid, 170..190 across the antimeridian: RegularGrid)
    lon0 = g["longitudeOfFirstGridPointInDegrees"] % 360.0
    lon0 = lon0 - 360.0 if lon0 >= 180.0 else lon0
    if (nx - 1) * dlon >= 360.0 - 1e-6:
        return f"{grid_type} repeating a meridian ({nx} columns of {dlon} degrees)", None
    span = (g["longitudeOfLastGridPointInDegrees"] - g["longitudeOfFirstGridPointInDegrees"]) % 360.0
    if abs(span - (nx - 1) * dlon) > 1e-3 or abs(g["latitudeOfLastGridPointInDegrees"]
                                                  - (g["latitudeOfFirstGridPointInDegrees"] + (ny - 1) * dlat)) > 1e-3:
        return f"{grid_type} whose increments disagree with its corners", None
    return grid_type, RegularGrid(round(g["latitudeOfFirstGridPointInDegrees"], 6), round(lon0, 6),
                                  round(dlat, 6), round(dlon, 6), ny, nx)


def _reference_time(h: Any, where: str) -> datetime:
    return _reference_time_of(_get(h, "dataDate"), _get(h, "dataTime", 0), where)


def _reference_time_of(d: Any, t: Any, where: str) -> datetime:
    try:
        return datetime(d // 10000, d // 100 % 100, d % 100, t // 100, t % 100, tzinfo=timezone.utc)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{where}: invalid reference date/time {d} {t}") from err


def _lead_time(h: Any, edition: int) -> tuple[int, int]:
    """(value, unit code) of the start of the message's time range (the forecast time of an instantaneous
    field), read from the edition's own keys (GRIB2 forecastTime in indicatorOfUnitOfTimeRange; GRIB1 P1 in
    unitOfTimeRange) rather than ecCodes' ``step``, whose unit follows ``stepUnits``."""
    if edition == 1:
        unit, value = _get(h, "unitOfTimeRange", 1), _get(h, "P1", 0)
        if _get(h, "timeRangeIndicator") == _GRIB1_TWO_OCTET_P1:
            value = value * 256 + _get(h, "P2", 0)
    else:
        unit, value = _get(h, "indicatorOfUnitOfTimeRange", 1), _get(h, "forecastTime")
        if value is None:  # templates without forecastTime
            value, unit = _get(h, "endStep", 0), 1
    return value, unit


def _step_hours(edition: int, value: int, unit: int, where: str) -> int:
    """The lead time ``value`` in GRIB ``edition``'s time ``unit``, in whole hours (``InvalidInput`` else)."""
    seconds = value * _SECONDS_PER_UNIT.get(edition, {}).get(unit, 0)
    if seconds % 3600 or (value and not seconds):
        raise InvalidInput(f"{where}: lead time {value} in GRIB{edition} time unit {unit} is not a whole number "
                           "of hours")
    return seconds // 3600


def _times(edition: int, year: int, month: int, day: int, hour: int, minute: int, value: int | None, unit: int,
           where: str) -> tuple[datetime, int]:
    """A message's (reference time, lead time hours) from the octets ``grib_headers`` read, with the checks of
    the ecCodes path (0 hours for ``value`` None: the caller keeps its record's)."""
    reference_time = _reference_time_of(year * 10000 + month * 100 + day, hour * 100 + minute, where)
    return reference_time, (0 if value is None else _step_hours(edition, value, unit, where))


def _level(h: Any, where: str) -> int:
    """ecCodes' ``level``, refused when it is not a whole number: its integer key rounds (1.5 m reads as 2, the
    level of 2 m), and two levels must never become one."""
    level = _get(h, "level", 0)
    try:
        exact = eccodes.codes_get_double(h, "level")
    except eccodes.GribInternalError:
        return level
    if exact != level:
        raise InvalidInput(f"{where}: level {exact:g} ({_get(h, 'typeOfLevel', 'level type not named')}) is not a "
                           "whole number; the file is refused whole")
    return level


def _check_padding(path: str, start: int, stop: int, where: str) -> None:
    """GRIB1 writers pad messages with zero bytes; anything else between messages is refused."""
    with open(path, "rb") as f:
        f.seek(start)
        gap = f.read(stop - start)
    if gap.strip(b"\0"):
        raise InvalidInput(f"{where}: {stop - start} bytes at offset {start} are neither GRIB nor zero padding; "
                           "the file is refused whole")


class EccodesGribDecoder:
    def scan(self, path: str, names: AbstractSet[str] = GRIB_NAMES) -> list[GribMessage]:
        keys = tuple(NAME_KEYS[n] for n in sorted(check_grib_names(names)))
        size = os.path.getsize(path)
        messages: list[GribMessage] = []
        expected_offset = 0
        with open(path, "rb") as f:
            head = f.read(16)
        if not head.startswith(b"GRIB"):
            raise InvalidInput(f"{os.path.basename(path)} is not a GRIB file: it starts with {head!r} ({size} bytes)")
        with (open(path, "rb") as f, HeaderNames(path, _get, keys) as header_names,
              HeaderRecords(path, _times) as records):
            while True:
                if self.header_records and (seen := records.lookup(expected_offset, len(messages))) is not None:
                    messages.append(seen)  # a header already scanned, at another time (after zero padding)
                    expected_offset = seen.offset + seen.length
                    continue
                f.seek(expected_offset)
                where = f"message {len(messages) + 1}"
                try:
                    h = eccodes.codes_grib_new_from_file(f, headers_only=True)
                except eccodes.GribInternalError as err:
                    raise InvalidInput(f"{os.path.basename(path)}: {where} is not decodable GRIB "
                                       f"(truncated or corrupt): {err}") from err
                if h is None:
                    break
                try:
                    offset, length = _get(h, "offset"), _get(h, "totalLength")
                    where = f"message {len(messages) + 1} (byte offset {offset})"
                    if offset != expected_offset:
                        _check_padding(path, expected_offset, offset, where)
                    expected_offset = offset + length
                    grid_type, grid = _grid(h)
                    edition = _get(h, "edition")
                    level_type_key = "indicatorOfTypeOfLevel" if edition == 1 else "typeOfFirstFixedSurface"
                    concepts = header_names.names(h, offset)
                    lead, unit = _lead_time(h, edition)
                    messages.append(GribMessage(
                        index=len(messages), offset=offset, length=length, edition=edition,
                        centre=_get(h, "centre"), sub_centre=_get(h, "subCentre", 0),
                        discipline=_get(h, "discipline", -1), category=_get(h, "parameterCategory", -1),
                        number=_get(h, "parameterNumber", -1), constituent_type=_get(h, "constituentType"),
                        template=_get(h, "productDefinitionTemplateNumber", -1),
                        level_type=_get(h, level_type_key, -1), level=_level(h, where),
                        reference_time=_reference_time(h, where), step_hours=_step_hours(edition, lead, unit, where),
                        grid_type=grid_type, grid=grid,
                        param_id=concepts.get("paramId") or None,  # 0: ecCodes cannot name it
                        table2_version=_get(h, "table2Version") if edition == 1 else None,
                        indicator_of_parameter=_get(h, "indicatorOfParameter") if edition == 1 else None,
                        type_of_level=concepts.get("typeOfLevel") or "", packing=_get(h, "packingType", ""),
                        data_type=concepts.get("dataType") or "", short_name=concepts.get("shortName") or "",
                        step_type=concepts.get("stepType") or ""))
                    if self.header_records:
                        records.remember(messages[-1], h, unit)
                finally:
                    eccodes.codes_release(h)
        if not messages:
            raise InvalidInput(f"{os.path.basename(path)} holds no GRIB message ({size} bytes): not a GRIB file")
        if expected_offset != size:
            _check_padding(path, expected_offset, size, f"{os.path.basename(path)} (after the last message)")
        return messages

    def read(self, path: str, messages: Sequence[GribMessage], out: Any = None) -> Any:
        if not messages or any(m.grid is None for m in messages):
            raise InvalidInput("read() needs messages on a regular grid")
        grid = messages[0].grid
        assert grid is not None
        shape = (len(messages), grid.ny, grid.nx)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        else:
            if (out.dtype != np.float32 or not out.flags.c_contiguous or out.shape[1:] != shape[1:]
                    or out.shape[0] < shape[0]):
                raise ValueError(f"read(out=...) needs a C-contiguous float32 array of at least {shape}, "
                                 f"not {out.dtype} {out.shape}")
            out = out[:shape[0]]
        fd = os.open(path, os.O_RDONLY)
        try:
            def one(n: int) -> None:
                msg = messages[n]
                out[n] = _decode(os.pread(fd, msg.length, msg.offset), msg, grid.ny, grid.nx)

            # ecCodes' C calls release the GIL (cffi): messages decode in parallel threads, each into its
            # own slice of ``out``; each message is read with one pread (no mapping of the whole file)
            for _ in self._pool.map(one, range(len(messages))):
                pass
        finally:
            os.close(fd)
        return out

    def __init__(self, threads: int | None = None, header_records: bool = True) -> None:
        self.threads = threads or min(4, os.cpu_count() or 1)
        #: a message whose header repeats an earlier one's but in its times is not parsed by ecCodes again
        #: (``grib_headers``; False: every message through ecCodes, the reference the tests compare with)
        self.header_records = header_records
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="grib-decode")


#: Packings whose ecCodes float32 decoding equals decoding to float64 and rounding to float32, bit for bit
#: (checked on every fixture message by tests/integration/test_lossless.py); any other packing decodes to
#: float64 first, as before.
FLOAT32_EXACT_PACKINGS = frozenset({"grid_simple"})


def _decode(body: bytes, msg: GribMessage, ny: int, nx: int) -> np.ndarray:
    if len(body) != msg.length:
        raise InvalidInput(f"{msg.where}: the file ends {msg.length - len(body)} bytes before the message does")
    h = eccodes.codes_new_from_message(body)
    try:
        packing = eccodes.codes_get(h, "packingType")
        values = eccodes.codes_get_values(h, ktype=np.float32 if packing in FLOAT32_EXACT_PACKINGS else float)
        if values.size != ny * nx:
            raise InvalidInput(f"{msg.where}: {values.size} values for a {ny}x{nx} grid")
        if _get(h, "bitmapPresent"):
            present = eccodes.codes_get_array(h, "bitmap") != 0
            values = np.where(present, values, np.nan)
        return values.reshape(ny, nx)
    finally:
        eccodes.codes_release(h)
