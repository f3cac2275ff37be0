"""Property tests of BBox, TimeRange and the raw key pattern against brute-force definitions."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.keys import RawKey, check_run_id, new_uuid7

FAST = settings(max_examples=150, deadline=None)
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)

lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)


@st.composite
def boxes(draw, x=lon, y=lat):
    w, e = sorted((draw(x), draw(x)))
    s, n = sorted((draw(y), draw(y)))
    return BBox(w, s, e, n)


# -- BBox validation --------------------------------------------------------------------------------------------
@FAST
@given(boxes())
def test_valid_box_keeps_its_floats(b):
    assert BBox(*[str(v) for v in (b.west, b.south, b.east, b.north)]).as_tuple() == b.as_tuple()
    assert BBox.parse(",".join(repr(v) for v in b.as_tuple())) == b


@pytest.mark.parametrize("sides, limit, args", [((0, 2), 180, (-10.0, 40.0, 10.0, 50.0)),  # west, east
                                               ((1, 3), 90, (-10.0, 0.0, 10.0, 0.0))])  # south, north
@FAST
@given(data=st.data())
def test_coordinate_out_of_range_refused(sides, limit, args, data):
    i = data.draw(st.sampled_from(sides))
    bad = data.draw(st.floats(limit, 1e308, exclude_min=True) | st.floats(-1e308, -limit, exclude_max=True))
    box = list(args)
    box[i] = bad
    with pytest.raises(InvalidInput, match=f"outside -{limit}..{limit}"):
        BBox(*box)


@FAST
@given(lon, lon, lat, lat)
def test_south_above_north_refused(a, b, c, d):
    assume(c != d)
    s, n = sorted((c, d))
    with pytest.raises(InvalidInput, match="inverted: south"):
        BBox(a, n, b, s)
    with pytest.raises(InvalidInput, match="inverted: south"):
        BBox.parse(f"{a!r},{n!r},{b!r},{s!r}")


@FAST
@given(lon, lon, lat, lat)
def test_west_above_east_is_a_box_across_the_antimeridian(a, b, c, d):
    assume(a != b)
    w, e = sorted((a, b))
    s, n = sorted((c, d))
    box = BBox.parse(f"{e!r},{s!r},{w!r},{n!r}")
    assert box.crosses_antimeridian and box.as_tuple() == (e, s, w, n)
    assert [p.as_tuple() for p in box.parts()] == [(e, s, 180.0, n), (-180.0, s, w, n)]
    assert abs(box.width - (w + 360 - e)) < 1e-9
    assert not BBox(w, s, e, n).crosses_antimeridian and BBox(w, s, e, n).parts() == (BBox(w, s, e, n),)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "nan", "inf", "east", None, "1e999"])
@pytest.mark.parametrize("i", range(4))
def test_non_finite_refused(i, bad):
    args: list = [0.0, 0.0, 1.0, 1.0]
    args[i] = bad
    with pytest.raises(InvalidInput):
        BBox(*args)


# -- BBox.intersects (the catalog's predicate on closed tile extents) -----------------------------------------
def _axis_meets(box_lo: int, box_hi: int, ext_lo: int, ext_hi: int) -> bool:
    """Some point of the closed [ext_lo, ext_hi] lies in the closed [box_lo, box_hi].

    Inputs are in quarter degrees, the lattice is eighth degrees: when the two intervals meet, they share
    either a stretch or one endpoint on the quarter grid, so the finer lattice sees every meeting. Boxes
    are products, so they meet iff both axes do.
    """
    return any(2 * box_lo <= p <= 2 * box_hi for p in range(2 * ext_lo, 2 * ext_hi + 1))


quarter = st.integers(-80, 80)


@FAST
@given(quarter, quarter, quarter, quarter, quarter, quarter, quarter, quarter)
def test_intersects_matches_lattice_brute_force(a, b, c, d, p, q, r, s):
    bw, be = sorted((a, b))
    bs, bn = sorted((c, d))
    ew, ee = sorted((p, q))
    es, en = sorted((r, s))
    box, extent = BBox(bw / 4, bs / 4, be / 4, bn / 4), BBox(ew / 4, es / 4, ee / 4, en / 4)
    expected = _axis_meets(bw, be, ew, ee) and _axis_meets(bs, bn, es, en)
    assert box.intersects(extent) is expected
    assert extent.intersects(box) is expected  # symmetric


@pytest.mark.parametrize("x, y, hit", [(10, 40, True), (20, 45, True), (15, 50, True), (20, 50, True),
                                       (20.000001, 50, False), (9.999999, 45, False), (15, 40, True)])
def test_point_on_extent_edges(x, y, hit):
    assert BBox(x, y, x, y).intersects(BBox(10, 40, 20, 50)) is hit


# -- boxes across the antimeridian, against a brute-force model of the circle ------------------------------------
# Longitudes in quarter degrees (-720..720 is -180..180), the lattice is eighth degrees taken round the circle
# (2880 eighths a turn: -180 and 180 are one meridian). A box covers its eighths from west eastwards to east.
TURN = 2880
quarter_lon = st.integers(-720, 720)


def _covered(west: int, east: int) -> set[int]:
    """Eighth-degree meridians (mod one turn) of the closed longitudes west..east (quarters), going east."""
    stop = 2 * east if west <= east else 2 * east + TURN
    return {p % TURN for p in range(2 * west, stop + 1)}


def _box(w: int, s: int, e: int, n: int) -> BBox:
    return BBox(w / 4, min(s, n) / 4, e / 4, max(s, n) / 4)


@FAST
@given(quarter_lon, quarter, quarter_lon, quarter, quarter_lon, quarter, quarter_lon, quarter)
def test_intersects_across_the_antimeridian_matches_the_circle(a, c, b, d, p, r, q, s):
    box, extent = _box(a, c, b, d), _box(p, r, q, s)  # either may cross (west > east)
    expected = bool(_covered(a, b) & _covered(p, q)) and _axis_meets(min(c, d), max(c, d), min(r, s), max(r, s))
    assert box.intersects(extent) is expected
    assert extent.intersects(box) is expected
    # what a catalog does: search each of search_parts() with the plain (non-crossing) predicate, then filter
    plain = any(x.west <= extent.east and x.east >= extent.west and x.south <= extent.north
                and x.north >= extent.south for x in box.search_parts())
    if not extent.crosses_antimeridian:  # stored extents never cross (tiling.grid_extent)
        assert plain or not expected


@FAST
@given(quarter_lon, quarter, quarter_lon, quarter, st.integers(-1440, 2880), quarter)
def test_contains_point_matches_the_circle(a, c, b, d, x, y):
    box = _box(a, c, b, d)
    # x in eighths, from -180 to 360: a 0..360 longitude is the same meridian as its -180..180 one
    inside = (x % TURN) in _covered(a, b) and min(c, d) <= y <= max(c, d)
    assert box.contains_point(x / 8, y / 4) is inside
    assert box.contains_point(x / 8, y / 4) is any(p.contains_point(x / 8, y / 4) for p in box.parts())


@pytest.mark.parametrize("box, parts", [
    ((170, -10, -170, 10), [(170, -10, 180, 10), (-180, -10, -170, 10)]),
    ((10, -10, 20, 10), [(10, -10, 20, 10)]),
    ((170, -10, 180, 10), [(170, -10, 180, 10), (-180, -10, -180, 10)]),  # + the meridian's other side
    ((-180, -10, -170, 10), [(-180, -10, -170, 10), (180, -10, 180, 10)]),
    ((-180, -90, 180, 90), [(-180, -90, 180, 90)]),
    ((180, 0, -180, 0), [(180, 0, 180, 0), (-180, 0, -180, 0)]),
])
def test_search_parts(box, parts):
    assert [p.as_tuple() for p in BBox(*box).search_parts()] == [tuple(map(float, p)) for p in parts]


# -- TimeRange ------------------------------------------------------------------------------------------------
hours = st.integers(-48, 48)


def at(h: int) -> datetime:
    return T0 + timedelta(hours=h)


@FAST
@given(hours, hours)
def test_naive_times_refused(a, b):
    naive = at(a).replace(tzinfo=None)
    with pytest.raises(InvalidInput, match="no timezone"):
        TimeRange(naive, at(max(a, b) + 1))
    with pytest.raises(InvalidInput, match="no timezone"):
        TimeRange(at(min(a, b) - 1), naive)
    # naive ``last`` always; a naive ``first`` escapes when ``last`` already decides (short-circuit)
    with pytest.raises(InvalidInput, match="no timezone"):
        TimeRange(at(b), at(b + 1)).overlaps(at(a), naive)
    with pytest.raises(InvalidInput, match="no timezone"):
        TimeRange(at(a - 1), at(a + 1)).overlaps(naive, at(max(a, b)))


@FAST
@given(hours, hours)
def test_start_not_before_end_refused(a, b):
    start, end = max(a, b), min(a, b)
    with pytest.raises(InvalidInput, match="not before"):
        TimeRange(at(start), at(end))


@FAST
@given(hours, st.integers(1, 48), st.integers(-14, 14))
def test_range_is_normalised_to_utc(h, length, offset_h):
    zone = timezone(timedelta(hours=offset_h))
    tr = TimeRange(at(h).astimezone(zone), at(h + length).astimezone(zone))
    assert tr.start == at(h) and tr.start.utcoffset() == timedelta(0) and tr.end.tzinfo is timezone.utc


@FAST
@given(hours, st.integers(1, 24), hours, st.integers(0, 24))
def test_overlaps_matches_hour_brute_force(start, length, first, span):
    # all ends are whole hours, so the real intersection is non-empty iff it holds a whole hour
    end, last = start + length, first + span
    expected = any(first <= h <= last for h in range(start, end))
    assert TimeRange(at(start), at(end)).overlaps(at(first), at(last)) is expected


# -- raw keys -------------------------------------------------------------------------------------------------
names = st.from_regex(r"[a-z0-9](?:[a-z0-9._-]{0,12}[a-z0-9])?", fullmatch=True).filter(lambda s: ".." not in s)
exts = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)
run_ids = st.builds(new_uuid7, st.integers(0, (1 << 48) - 1), st.binary(min_size=10, max_size=10))
keys = st.builds(RawKey, names, names, st.dates(date(1, 1, 1), date(9999, 12, 31)), run_ids, exts)
GOOD = str(RawKey("ads", "cams-europe-air-quality-forecasts", date(2025, 3, 1),
                  "01954f2e-8a3b-7c4d-9e5f-0123456789ab", "grib"))


@FAST
@given(keys)
def test_raw_key_round_trip(k):
    text = str(k)
    assert RawKey.parse(text) == k
    assert text == f"{k.source}/{k.dataset}/{k.day.isoformat()}/{k.run_id}.{k.ext}"


@FAST
@given(st.integers(0, (1 << 48) - 1), st.binary(min_size=10, max_size=10))
def test_uuid7_carries_its_timestamp(ms, rand):
    u = new_uuid7(ms, rand)
    assert check_run_id(u) == u
    assert uuid.UUID(u).version == 7 and int(u[:8] + u[9:13], 16) == ms


@FAST
@given(keys, st.data())
def test_control_characters_refused(k, data):
    text = str(k)
    i = data.draw(st.integers(0, len(text)))
    c = data.draw(st.sampled_from([chr(n) for n in range(0x20)] + ["\x7f"]))
    with pytest.raises(InvalidInput):
        RawKey.parse(text[:i] + c + text[i:])


@FAST
@given(keys, st.sampled_from(["source", "dataset"]), st.data())
def test_bad_name_parts_refused(k, part, data):
    name = getattr(k, part)
    i = data.draw(st.integers(0, len(name)))
    for bad in (name[:i] + ".." + name[i:], name[:i] + "/" + name[i:], name.upper() + "A", ""):
        with pytest.raises(InvalidInput):
            RawKey(**{**k.__dict__, part: bad})
        parts = str(k).split("/")
        parts[0 if part == "source" else 1] = bad
        with pytest.raises(InvalidInput):
            RawKey.parse("/".join(parts))


@FAST
@given(st.binary(min_size=16, max_size=16), st.sampled_from([1, 2, 3, 4, 5, 6, 8]))
def test_non_v7_uuid_refused(raw, version):
    other = str(uuid.UUID(bytes=raw, version=version)) if version <= 5 else str(
        uuid.UUID(int=(int.from_bytes(raw, "big") & ~(0xF << 76)) | (version << 76)))
    with pytest.raises(InvalidInput):
        check_run_id(other)
    with pytest.raises(InvalidInput):
        RawKey.parse(GOOD.replace("01954f2e-8a3b-7c4d-9e5f-0123456789ab", other))


@pytest.mark.parametrize("key", [
    GOOD.replace("2025-03-01", "2025-02-30"), GOOD.replace("2025-03-01", "2023-02-29"),
    GOOD.replace("2025-03-01", "2025-13-01"), GOOD.replace("2025-03-01", "2025-3-1"),
    GOOD.replace("2025-03-01", "20250301"), GOOD.replace("2025-03-01", "٢٠٢٥-٠٣-٠١"),
    GOOD.replace("01954f2e-8a3b-7c4d", "01954F2E-8A3B-7C4D"),  # uppercase UUID is not canonical
    GOOD.replace("-9e5f-", "-7e5f-"),  # variant bits must be 10xx
    GOOD.replace(".grib", ""), GOOD.replace(".grib", ".GRIB"), GOOD.replace(".grib", ".grib.bz2"),
    GOOD.replace("ads/", "../"), GOOD.replace("ads/", "/"), "/" + GOOD, GOOD + "/", GOOD.replace("ads", "Ads"),
    GOOD.replace("ads/", "ads//"), GOOD.replace("cams-europe", "cams..europe"), GOOD.replace("ads", "-ads"),
])
def test_malformed_raw_keys_refused(key):
    with pytest.raises(InvalidInput):
        RawKey.parse(key)


def test_good_key_parses():
    assert RawKey.parse(GOOD).day == date(2025, 3, 1)
