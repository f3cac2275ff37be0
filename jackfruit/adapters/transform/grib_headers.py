"""Messages whose header repeats an earlier message's, reported without ecCodes parsing it again.

ecCodes builds a handle per message by parsing the header of every section against its definitions: 0.2-0.55 ms
a message, most of a scan (a CAMS Europe day of 388 messages: 0.22 of 0.29 CPU s). A file repeats a few headers at
many times. Per scan, the first message of each header is scanned by ecCodes and kept as the header's record; a
later message whose header bytes equal the record's everywhere but in its reference time and lead time is the
record with its own position, length, reference time and lead time, those two read from their octets:

- GRIB2: the bytes of sections 0-4 and the first 11 octets of section 5 (its length, number of values and data
  representation template: the packing), blanked in the total length (section 0 octets 9-16), the reference time
  but its second (section 1 octets 13-18) and ``forecastTime`` (the 4 octets ecCodes located in the record);
- GRIB1: sections 0-2 (the PDS and the GDS), blanked in the total length (section 0 octets 5-7), the reference
  time (PDS octets 13-17 and 25) and, where timeRangeIndicator says they hold only the lead time (0, 1, 10), P1
  and P2 (octets 19-20); and the BDS flags (octet 4, and octet 14 where flagged): the packing.

A time read from its octets goes through the same checks as one read by ecCodes (``times``). Anything unusual —
a section that does not parse, a length past the end of the file, no ``7777`` at the message's end, a negative
forecastTime, a year of century out of range, a large GRIB1 message, a time the checks refuse — is left to
ecCodes: this cache may only miss, never answer otherwise than ecCodes would (tests compare both on every sample).
Zero padding before a message is skipped as the ecCodes path allows it; any other byte is left to ecCodes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import eccodes

from jackfruit.domain.tiling import GribMessage

#: (edition, year, month, day, hour, minute, lead time value, the record's lead time unit, where) -> the
#: message's (reference time, lead time hours), with the checks of the ecCodes path; InvalidInput to refuse
Times = Callable[..., tuple[Any, int]]

_HEAD = 2048  # bytes read first at a message; more when its header sections are longer
_GRIB1_LARGE = 0x800000  # GRIB1 length flag of ECMWF's large-message convention: left to ecCodes
_GRIB1_STEP_ONLY = {0, 1, 10}  # timeRangeIndicator: P1 (and P2 for 10) are the lead time, nothing else
_GRIB1_TIMES = (12, 13, 14, 15, 16, 24)  # PDS octets 13-17 (YY MM DD hh mm) and 25 (century), 0-based
_GRIB1_P1_P2 = (18, 19)


class HeaderRecords:
    """Per scan of the file at ``path``: ``remember(message, h, unit)`` after ecCodes scanned a message (``h`` its
    handle, ``unit`` its lead time unit code), ``lookup(offset, index)`` the message at ``offset`` as the record of
    its header, or None (ecCodes scans it)."""

    def __init__(self, path: str, times: Times) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._size = os.fstat(self._fd).st_size
        self._times = times
        self._records: dict[bytes, tuple[GribMessage, int]] = {}
        self._forecast_time_at: dict[tuple[int, int], int | None] = {}  # GRIB2 (template, section 4 length)
        self.hits = 0

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "HeaderRecords":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remember(self, message: GribMessage, h: Any, unit: int) -> None:
        header = self._header(message.offset)
        if header is None or header.length != message.length:
            return
        if header.edition == 2:
            try:
                at: int | None = eccodes.codes_get_offset(h, "forecastTime")
            except eccodes.GribInternalError:
                at = None
            s4, s4_length = header.section4
            if at is not None and not s4 <= at <= s4 + s4_length - 4:
                return
            known = self._forecast_time_at.setdefault(header.layout, at)
            if known != at:
                return
        identity = self._identity(header)
        if identity is not None:
            self._records.setdefault(identity, (message, unit))

    def lookup(self, offset: int, index: int) -> GribMessage | None:
        """The message at ``offset``, or after zero padding there (GRIB1 writers pad messages to a multiple of
        120 bytes): its record with its own position, length and times; None to leave it to ecCodes."""
        head = self._read(offset, _HEAD)
        if head[:4] != b"GRIB":
            start = head.find(b"GRIB")
            if start <= 0 or head[:start].strip(b"\0"):
                return None
            offset += start
            head = head[start:]
        header = self._header(offset, head)
        if header is None:
            return None
        identity = self._identity(header)
        found = self._records.get(identity) if identity is not None else None
        if found is None:
            return None
        record, unit = found
        b = header.bytes
        if header.edition == 2:
            year, month, day, hour, minute = int.from_bytes(b[28:30], "big"), b[30], b[31], b[32], b[33]
            at = self._forecast_time_at[header.layout]
            if at is None:
                value = None  # not blanked: the record's lead time is this message's
            else:
                value = int.from_bytes(b[at:at + 4], "big")
                if value & 0x80000000:
                    return None  # a negative forecastTime (sign and magnitude)
        else:
            pds = b[8:8 + header.pds_length]
            yy, century = pds[12], pds[24]
            if not 1 <= yy <= 100 or century < 1:
                return None
            year, month, day, hour, minute = (century - 1) * 100 + yy, pds[13], pds[14], pds[15], pds[16]
            if pds[20] in _GRIB1_STEP_ONLY:
                value = pds[18] * 256 + pds[19] if pds[20] == 10 else pds[18]
            else:
                value = None
        where = f"message {index + 1} (byte offset {offset})"
        try:
            reference_time, step = self._times(header.edition, year, month, day, hour, minute, value, unit, where)
        except Exception:  # noqa: BLE001 - refused or odd: ecCodes scans it and says why
            return None
        if value is None:
            step = record.step_hours
        self.hits += 1
        return dataclasses.replace(record, index=index, offset=offset, length=header.length,
                                   reference_time=reference_time, step_hours=step)

    def _read(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, n, offset)

    def _header(self, offset: int, head: bytes | None = None) -> "_Header | None":
        """The header of the message at ``offset`` (``head``: bytes already read there, if any)."""
        b = self._read(offset, _HEAD) if head is None else head
        if len(b) < 16 or b[:4] != b"GRIB":
            return None
        edition = b[7]
        if edition == 2:
            length = int.from_bytes(b[8:16], "big")
        elif edition == 1:
            length = int.from_bytes(b[4:7], "big")
            if length & _GRIB1_LARGE:
                return None
        else:
            return None
        if length < 16 or offset + length > self._size or self._read(offset + length - 4, 4) != b"7777":
            return None

        def need(n: int) -> bytes | None:
            nonlocal b
            if n > length:
                return None
            if n > len(b):
                b = self._read(offset, max(n, 2 * len(b)))
            return b

        header = _Header(edition, length)
        if edition == 2:
            pos, expected = 16, (1, 2, 3, 4, 5)
            while True:
                if need(pos + 11) is None:
                    return None
                size, number = int.from_bytes(b[pos:pos + 4], "big"), b[pos + 4]
                if number not in expected or size < 5 or pos + size > length or (pos == 16 and number != 1):
                    return None
                expected = tuple(n for n in expected if n > number)
                if number == 4:
                    if size < 9:
                        return None
                    header.section4 = (pos, size)
                    header.layout = (int.from_bytes(b[pos + 7:pos + 9], "big"), size)
                if number == 5:
                    if size < 11 or header.section4 is None or 3 in expected or need(pos + 11) is None:
                        return None
                    header.end = pos + 11
                    break
                pos += size
        else:
            if need(8 + 3) is None:
                return None
            pds_length = int.from_bytes(b[8:11], "big")
            if pds_length < 28 or need(8 + pds_length) is None:
                return None
            flags = b[8 + 7]
            pos = 8 + pds_length
            if flags & 0x80:  # GDS present
                if need(pos + 3) is None:
                    return None
                gds_length = int.from_bytes(b[pos:pos + 3], "big")
                if gds_length < 3 or need(pos + gds_length) is None:
                    return None
                pos += gds_length
            header.end = pos  # sections 0-2
            if flags & 0x40:  # BMS present: its bitmap is data, not header
                if need(pos + 3) is None:
                    return None
                bms_length = int.from_bytes(b[pos:pos + 3], "big")
                if bms_length < 6:
                    return None
                pos += bms_length
            if need(pos + 14) is None:
                return None
            header.pds_length = pds_length
            header.bds_flags = bytes([b[pos + 3] & 0xF0]) + (b[pos + 13:pos + 14] if b[pos + 3] & 0x10 else b"")
        header.bytes = b
        return header

    def _identity(self, header: "_Header") -> bytes | None:
        b = header.bytes
        if header.edition == 2:
            if header.layout not in self._forecast_time_at:
                return None
            body = bytearray(b[:header.end])
            blank = [*range(8, 16), *range(16 + 12, 16 + 18)]
            at = self._forecast_time_at[header.layout]
            if at is not None:
                blank += range(at, at + 4)
            tail = b""
        else:
            body = bytearray(b[:header.end])
            pds = 8
            blank = [4, 5, 6, *(pds + i for i in _GRIB1_TIMES)]
            if body[pds + 20] in _GRIB1_STEP_ONLY:
                blank += [pds + i for i in _GRIB1_P1_P2]
            tail = header.bds_flags
        for i in blank:
            body[i] = 0
        return bytes([header.edition]) + bytes(body) + tail


class _Header:
    """A message's header as read from its bytes (``HeaderRecords._header``)."""

    def __init__(self, edition: int, length: int) -> None:
        self.edition, self.length = edition, length
        self.bytes = b""
        self.end = 0  # the end of the bytes compared (before the GRIB1 BDS flags)
        self.section4: tuple[int, int] | None = None  # GRIB2 (offset, length)
        self.layout: tuple[int, int] = (-1, -1)  # GRIB2 (product definition template, section 4 length)
        self.pds_length = 0
        self.bds_flags = b""
