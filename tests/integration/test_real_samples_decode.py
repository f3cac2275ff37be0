"""The decoder port on every real CAMS sample: each message scanned with its edition, parameter, typed level,
reference time and lead time, and decoded bit-exact (ADR 0001: float32 equal, bit for bit, to ecCodes' own
float64 decode rounded, NaN where the bitmap says missing) -- GRIB1 and GRIB2 mixed in one file, pressure and
model levels, CCSDS packing. Expectations come from tests/data/grib/README.md (what each file holds) and, per
message, from ecCodes' own keys read here independently of the decoder."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import eccodes
import numpy as np
import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.tiling import RegularGrid

from ..conftest import DATA
from ..helpers import bits

GLOBAL = DATA / "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"
EAC4 = DATA / "cams-eac4_go3_25-pressure-levels_2003-01-01to02.grib"
CHEM = DATA / "cams-chem_mass-mixrat_3-constituents_template4-40.grib"
UTC = timezone.utc
EAC4_LEVELS = {1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 850, 900, 925,
               950, 1000}


_KEYS = ("edition", "paramId", "shortName", "typeOfLevel", "level", "packingType", "dataType", "startStep",
         "endStep", "stepType")


def direct(path, values: bool = True) -> list[dict]:
    """Each message as ecCodes itself reads it (no decoder code): keys, and float64 values rounded to float32."""
    out = []
    with open(path, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f, headers_only=not values)) is not None:
            try:
                row = {}
                if values:
                    v = eccodes.codes_get_values(h)
                    if eccodes.codes_get(h, "bitmapPresent"):
                        v = np.where(eccodes.codes_get_array(h, "bitmap") != 0, v, np.nan)
                    ny, nx = eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni")
                    row["values"] = v.astype(np.float32).reshape(ny, nx)
                eccodes.codes_set(h, "stepUnits", "h")  # the steps in hours, whatever unit the message uses
                valid = datetime.strptime(f"{eccodes.codes_get(h, 'validityDate')}"
                                          f"{eccodes.codes_get(h, 'validityTime'):04d}", "%Y%m%d%H%M")
                out.append(row | {k: eccodes.codes_get(h, k) for k in _KEYS} | {"valid": valid.replace(tzinfo=UTC)})
            finally:
                eccodes.codes_release(h)
    return out


def _agrees_with_ecc(messages, ref) -> None:
    assert len(messages) == len(ref)
    for m, r in zip(messages, ref):
        # the lead time is the start of the time range; ecCodes' validity is its end (the same when instantaneous)
        got = (m.edition, m.param_id, m.short_name, m.type_of_level, m.level, m.packing, m.data_type,
               m.step_hours, m.step_type, m.valid_time + timedelta(hours=r["endStep"] - r["startStep"]))
        want = (r["edition"], r["paramId"] or None, r["shortName"], r["typeOfLevel"], r["level"], r["packingType"],
                r["dataType"], r["startStep"], r["stepType"], r["valid"])
        assert got == want, m.where


def _bit_exact(decoded, ref) -> None:
    assert decoded.dtype == np.float32 and len(decoded) == len(ref)
    for n, r in enumerate(ref):
        assert np.array_equal(bits(decoded[n]), bits(r["values"])), f"message {n + 1} differs"


def test_samples_are_the_upstream_bytes():
    """Every sample is byte for byte the file its README names: full sha256 and the upstream git blob id."""
    readme = (DATA / "README.md").read_text()
    listed = dict(re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.M))
    files = sorted(p for p in DATA.iterdir() if p.name != "README.md")
    assert sorted(listed.values()) == [p.name for p in files]
    for p in files:
        body = p.read_bytes()
        assert listed[hashlib.sha256(body).hexdigest()] == p.name
        blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        assert f"blob {blob}" in readme, f"{p.name}: git blob {blob} is not the upstream blob of the README"


def test_global_forecast_mixed_editions_scan_and_decode_bit_exact():
    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(GLOBAL))
    ref = direct(GLOBAL)
    _agrees_with_ecc(messages, ref)
    # what the README says the file holds: GRIB1 pm2p5/pm10 at the surface and no2 at 1000 hPa, GRIB2 no2 on model
    # level 60 (ECMWF local discipline 192 / category 210 / number 121)
    kinds = Counter((m.edition, m.param_id, m.type_of_level, m.level, m.level_type) for m in messages)
    assert kinds == {(1, 210073, "surface", 0, 1): 192, (1, 210074, "surface", 0, 1): 192,
                     (1, 210121, "isobaricInhPa", 1000, 100): 64, (2, 210121, "hybrid", 60, 105): 64}
    for m in messages:
        if m.edition == 1:
            assert (m.table2_version, m.indicator_of_parameter) == (210, m.param_id - 210000), m.where
            assert (m.discipline, m.category, m.number, m.constituent_type) == (-1, -1, -1, None), m.where
        else:
            assert (m.table2_version, m.indicator_of_parameter) == (None, None), m.where
            assert (m.discipline, m.category, m.number, m.template) == (192, 210, 121, 0), m.where
        assert (m.packing, m.data_type, m.step_type, m.centre) == ("grid_simple", "fc", "instant", 98), m.where
    refs = [datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 2, tzinfo=UTC)]
    for param, steps in ((210073, range(96)), (210074, range(96)), (210121, range(0, 94, 3))):
        for level in ({0} if param != 210121 else {1000, 60}):
            got = sorted((m.reference_time, m.step_hours) for m in messages if (m.param_id, m.level) == (param, level))
            assert got == [(r, s) for r in refs for s in steps], (param, level)
    # one read of all 512 messages (both editions share the grid), as the tile writer asks for a slab
    assert messages[0].grid == RegularGrid(52.7, 13.0, -0.4, 0.4, 2, 3)
    _bit_exact(decoder.read(str(GLOBAL), messages), ref)
    # and GRIB1 and GRIB2 each on its own, into a reused buffer, as the tile writer does
    out = np.empty((448, 2, 3), dtype=np.float32)
    for edition in (1, 2):
        chosen = [n for n, m in enumerate(messages) if m.edition == edition]
        got = decoder.read(str(GLOBAL), [messages[n] for n in chosen], out=out)
        _bit_exact(got, [ref[n] for n in chosen])


def test_eac4_grib1_pressure_levels_scan_and_decode_bit_exact():
    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(EAC4))
    ref = direct(EAC4)
    _agrees_with_ecc(messages, ref)
    assert len(messages) == 400
    assert {(m.edition, m.param_id, m.short_name, m.table2_version, m.indicator_of_parameter, m.type_of_level,
             m.level_type, m.data_type, m.step_hours) for m in messages} == {
        (1, 210203, "go3", 210, 203, "isobaricInhPa", 100, "an", 0)}
    times = [datetime(2003, 1, 1, tzinfo=UTC) + timedelta(hours=3 * k) for k in range(16)]
    assert sorted((m.reference_time, m.level) for m in messages) == sorted(
        (t, level) for t in times for level in EAC4_LEVELS)
    assert {m.grid for m in messages} == {RegularGrid(59.75, -10.0, -0.75, 0.75, 14, 21)}
    # the file pads each GRIB1 message with zeros: every message is still found, at its own offset
    assert sum(m.length for m in messages) < EAC4.stat().st_size
    _bit_exact(decoder.read(str(EAC4), messages), ref)


def test_chemistry_ccsds_three_constituents_are_three_fields_bit_exact():
    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(CHEM))
    ref = direct(CHEM)
    _agrees_with_ecc(messages, ref)
    assert [(m.edition, m.template, m.param_id, m.category, m.number, m.constituent_type, m.type_of_level, m.level,
             m.packing, m.data_type) for m in messages] == [
        (2, 40, 402000, 20, 2, ct, "hybrid", 1, "grid_ccsds", "an") for ct in (4, 7, 0)]  # CO, HCHO, O3
    assert {m.reference_time for m in messages} == {datetime(2011, 9, 29, tzinfo=UTC)}
    names = {(m.param_id, m.constituent_type, m.type_of_level, m.level, m.reference_time, m.step_hours)
             for m in messages}
    assert len(names) == 3, "three constituents must stay three named fields"
    # a global 30 degree grid from 0 to 330 E: until the decoder reports 0..360 grids, read() is given it
    messages = [m if m.grid else dataclasses.replace(m, grid=RegularGrid(90.0, 0.0, -30.0, 30.0, 7, 12))
                for m in messages]
    decoded = decoder.read(str(CHEM), messages)
    _bit_exact(decoded, ref)
    for a in range(3):
        for b in range(a + 1, 3):
            assert not np.array_equal(decoded[a], decoded[b]), "constituents collapsed into one field"


def test_grib1_bitmap_decodes_bit_exact_with_nan_where_missing():
    """GRIB1 goes through the same read path as GRIB2: its bitmap (not a magic value) says what is missing."""
    path = DATA / "ecmwf_fields_with_missing_values.grib"
    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(path))
    ref = direct(path)
    _agrees_with_ecc(messages, ref)
    # a global 2 degree grid from 0 to 358 E: until the decoder reports 0..360 grids, read() is given it
    messages = [m if m.grid else dataclasses.replace(m, grid=RegularGrid(90.0, 0.0, -2.0, 2.0, 91, 180))
                for m in messages]
    decoded = decoder.read(str(path), messages)
    _bit_exact(decoded, ref)
    assert [int(np.isnan(d).sum()) for d in decoded] == [10808, 10891]  # README: 21699 NaN in total


@pytest.mark.parametrize("name, grid_types", [
    ("ecmwf_reduced_gg.grib", {"reduced_gg"}),
    ("ncep-nam_awp211-lambert_2018-09-17.grib2", {"lambert"}),
    ("cosmo_2t_step_60m_0to72h.grib", {"regular_ll"}),
    ("cams-egg4-monthly_2t-aco2rec.grib", {"regular_ll"}),
])
def test_other_producers_and_grids_scan_message_by_message(name, grid_types):
    """Files no profile names still scan, every message with its keys (the planner's refusal names each one):
    non-regular grids report their grid type and no grid."""
    path = DATA / name
    messages = EccodesGribDecoder().scan(str(path))
    _agrees_with_ecc(messages, direct(path, values=False))
    assert {m.grid_type for m in messages} == grid_types
    assert all((m.grid is None) == (m.grid_type != "regular_ll") for m in messages)


def test_names_are_looked_up_once_per_header_and_agree_with_eccodes_on_every_message():
    """The decoder caches ecCodes' names under each header with its times blanked: every sample's messages get
    exactly ecCodes' own answers (checked above per file, and here on all of them), in one lookup per header."""
    from jackfruit.adapters.transform.eccodes_decoder import _get
    from jackfruit.adapters.transform.grib_names import NAME_KEYS, HeaderNames

    lookups = {}
    for path in sorted(DATA.glob("*.grib*")):
        with open(path, "rb") as f, HeaderNames(str(path), _get, tuple(NAME_KEYS.values())) as names:
            n = 0
            while (h := eccodes.codes_grib_new_from_file(f, headers_only=True)) is not None:
                try:
                    got = names.names(h, _get(h, "offset"))
                    assert got == {k: _get(h, k, None) for k in NAME_KEYS.values()}, (path.name, n)
                    n += 1
                finally:
                    eccodes.codes_release(h)
            lookups[path.name] = n - names.hits
    assert lookups[EAC4.name] == 25  # one per pressure level, not per time
    assert lookups[GLOBAL.name] <= 8  # pm2p5/pm10 (analysis and forecast steps), no2 on two levels
    assert lookups[CHEM.name] == 3  # three constituents never share a lookup


@pytest.mark.parametrize("tri, lookups", [(0, 1), (4, 2)])
def test_p1_p2_are_blanked_only_where_they_hold_nothing_but_the_lead_time(tmp_path, tri, lookups):
    """Two GRIB1 messages that differ only in P1/P2 share one lookup when timeRangeIndicator says those are the
    lead time (0, 1, 10), and are looked up apart otherwise (an accumulation's range is part of what it is)."""
    from jackfruit.adapters.transform.eccodes_decoder import _get
    from jackfruit.adapters.transform.grib_names import NAME_KEYS, HeaderNames

    body = b""
    with open(GLOBAL, "rb") as f:
        h = eccodes.codes_grib_new_from_file(f)
    for p1, p2 in ((0, 3), (3, 6)):
        c = eccodes.codes_clone(h)
        for key, value in (("timeRangeIndicator", tri), ("P1", p1), ("P2", p2)):
            eccodes.codes_set(c, key, value)
        body += eccodes.codes_get_message(c)
        eccodes.codes_release(c)
    eccodes.codes_release(h)
    path = tmp_path / "two.grib"
    path.write_bytes(body)
    with open(path, "rb") as f, HeaderNames(str(path), _get, tuple(NAME_KEYS.values())) as names:
        while (m := eccodes.codes_grib_new_from_file(f, headers_only=True)) is not None:
            names.names(m, _get(m, "offset"))
            eccodes.codes_release(m)
        assert 2 - names.hits == lookups
    messages = EccodesGribDecoder().scan(str(path))
    assert [m.step_hours for m in messages] == [0, 3]
    assert {m.step_type for m in messages} == {"instant" if tri == 0 else "accum"}


@pytest.mark.parametrize("names", [frozenset(), frozenset({"type_of_level", "step_type"}), frozenset({"param_id"})])
def test_a_scan_reports_only_the_names_asked_for_and_everything_else_as_the_full_scan(names):
    """A profile's scans ask for its ``grib_names`` only (paramId and shortName cost ~150 ms each at a process's
    first lookup): on every sample the messages are the full scan's, with the names not asked for unreported."""
    from jackfruit.domain.tiling import GRIB_NAMES, GribMessage

    unreported = {f.name: f.default for f in dataclasses.fields(GribMessage) if f.name in GRIB_NAMES - names}
    decoder = EccodesGribDecoder()
    for path in sorted(DATA.glob("*.grib*")):
        full = decoder.scan(str(path))
        assert decoder.scan(str(path), names) == [dataclasses.replace(m, **unreported) for m in full], path.name
        assert any(getattr(m, n) != unreported[n] for m in full for n in unreported), path.name


def test_a_scan_refuses_a_name_it_does_not_know():
    from jackfruit.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"unknown GRIB name\(s\) paramId: the names a scan reports are "):
        EccodesGribDecoder().scan(str(EAC4), {"paramId"})
