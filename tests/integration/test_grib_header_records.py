"""A scan reports a message whose header repeats an earlier one's but in its times from the earlier message's
record, with its times read from their octets (``adapters/transform/grib_headers.py``): exactly what ecCodes
reports for it. Compared here with the scan that sends every message through ecCodes, on every sample, on files
of real messages with random times written by ecCodes, and on damaged files (the same refusal, word for word)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import eccodes
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.errors import InvalidInput

from ..conftest import DATA

GLOBAL = DATA / "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"  # GRIB1 + GRIB2
EAC4 = DATA / "cams-eac4_go3_25-pressure-levels_2003-01-01to02.grib"  # GRIB1, zero padding between messages
POLLEN = DATA / "cams-europe_ensemble_mugwort-pollen_2022-08-13to15_step0.grib"  # CAMS Europe GRIB2, 4.40

FAST, SLOW = EccodesGribDecoder(), EccodesGribDecoder(header_records=False)


def outcome(path) -> object:
    """The scan's messages, or its refusal's text."""
    try:
        return SLOW.scan(str(path)), None
    except InvalidInput as err:
        return None, str(err)


def fast_outcome(path) -> object:
    try:
        return FAST.scan(str(path)), None
    except InvalidInput as err:
        return None, str(err)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.grib*")), ids=lambda p: p.name[:40])
def test_every_sample_scans_as_ecCodes_alone_scans_it(path):
    assert fast_outcome(path) == outcome(path)


def test_repeated_headers_are_not_parsed_again(monkeypatch):
    """The point of it: the EAC4 sample's 400 messages are 25 headers (one per pressure level) at 16 times, with
    zero padding between messages; ecCodes parses 25 of them (and one call finds the end of the file)."""
    real, calls = eccodes.codes_grib_new_from_file, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(eccodes, "codes_grib_new_from_file", counted)
    assert len(SLOW.scan(str(EAC4))) == 400 and len(calls) == 401
    calls.clear()
    messages = FAST.scan(str(EAC4))
    assert len(messages) == 400 and len({m.level for m in messages}) == 25 and len(calls) == 26


def _messages(source) -> list[bytes]:
    out = []
    with open(source, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            try:
                out.append((eccodes.codes_get(h, "edition"), h))
            except Exception:
                eccodes.codes_release(h)
                raise
    return out


def _variant(h, edition: int, when: datetime, lead: int, tri: int, unit: int) -> bytes:
    c = eccodes.codes_clone(h)
    try:
        eccodes.codes_set(c, "dataDate", int(when.strftime("%Y%m%d")))
        eccodes.codes_set(c, "dataTime", int(when.strftime("%H%M")))
        if edition == 1:
            eccodes.codes_set(c, "timeRangeIndicator", tri)
            eccodes.codes_set(c, "unitOfTimeRange", unit)
            if tri == 10:
                eccodes.codes_set(c, "P1", lead // 256)
                eccodes.codes_set(c, "P2", lead % 256)
            else:
                eccodes.codes_set(c, "P1", lead % 256)
                eccodes.codes_set(c, "P2", (lead // 7) % 256)
        else:
            eccodes.codes_set(c, "indicatorOfUnitOfTimeRange", unit)
            eccodes.codes_set(c, "forecastTime", lead)
        return eccodes.codes_get_message(c)
    finally:
        eccodes.codes_release(c)


SOURCES = {path: _messages(path) for path in (GLOBAL, POLLEN)}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12), tri=st.sampled_from([0, 1, 4, 10]),
       unit=st.sampled_from([0, 1, 1, 2, 10, 13]),
       times=st.lists(st.tuples(st.datetimes(datetime(1950, 1, 1), datetime(2099, 12, 31)),
                                st.sampled_from([0, 1, 3, 25, 120, 255, 300, 4000])), min_size=12, max_size=12),
       pad=st.sampled_from([b"", b"\0" * 7, b"\0" * 90]))
def test_files_of_real_headers_at_random_times_scan_as_ecCodes_alone_scans_them(tmp_path_factory, seed, n, tri,
                                                                                 unit, times, pad):
    """Real GRIB1 and GRIB2 messages (the CAMS global sample's, a CAMS Europe one) with their reference time and
    lead time set by ecCodes, one time unit and GRIB1 timeRangeIndicator per file (so that headers repeat): the
    same messages, or the same refusal (a lead time that is not whole hours), whichever path reads them."""
    rng = random.Random(seed)
    pool = [m for messages in SOURCES.values() for m in messages[:3]]
    body = b""
    for i in range(n):
        edition, h = rng.choice(pool)
        when, lead = times[i]
        when = when.replace(second=0, microsecond=0)
        try:
            body += _variant(h, edition, when, lead, tri, unit) + (pad if edition == 1 else b"")
        except eccodes.GribInternalError:
            continue  # a value the edition cannot hold (ecCodes refused to write it)
    if not body:
        return
    path = tmp_path_factory.mktemp("variants") / "v.grib"
    path.write_bytes(body)
    assert fast_outcome(path) == outcome(path)


@pytest.mark.parametrize("damage", ["truncated", "no_end_marker", "garbage_between", "bad_section_length",
                                    "longer_than_file"])
def test_damaged_files_get_the_same_refusal_or_messages(tmp_path, damage):
    """Damage after a header was remembered: the cache must not paper over it."""
    body = POLLEN.read_bytes()
    first = FAST.scan(str(POLLEN))[0]
    one = body[:first.length]
    if damage == "truncated":
        data = one * 3 + one[:-100]
    elif damage == "no_end_marker":
        data = one * 2 + one[:-4] + b"7778"
    elif damage == "garbage_between":
        data = one * 2 + b"\0\0junk\0" + one
    elif damage == "bad_section_length":
        broken = bytearray(one)
        broken[16:20] = (10**6).to_bytes(4, "big")  # section 1 claims more than the message holds
        data = one * 2 + bytes(broken)
    else:
        longer = bytearray(one)
        longer[8:16] = (len(one) * 10).to_bytes(8, "big")
        data = one * 2 + bytes(longer)
    path = tmp_path / f"{damage}.grib"
    path.write_bytes(data)
    assert fast_outcome(path) == outcome(path)
