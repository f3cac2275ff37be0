"""Splitting a multi-day GRIB file by reference day copies every message byte for byte: the day files
concatenated in order are the original file, each holds one day, and each message's bytes are the original's."""

from __future__ import annotations

from datetime import date

import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.errors import InvalidInput
from jackfruit.synthetic.grib_days import main, split_by_day

from ..conftest import DATA

GLOBAL = DATA / "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"
EAC4 = DATA / "cams-eac4_go3_25-pressure-levels_2003-01-01to02.grib"


def _message_bytes(path, messages) -> list[bytes]:
    body = path.read_bytes()
    return [body[m.offset:m.offset + m.length] for m in messages]


@pytest.mark.parametrize("path, days, per_day", [
    (GLOBAL, [date(2019, 1, 1), date(2019, 1, 2)], 256),
    (EAC4, [date(2003, 1, 1), date(2003, 1, 2)], 200),  # GRIB1 messages padded with zeros
])
def test_split_by_day_copies_every_message_byte_for_byte(tmp_path, path, days, per_day):
    decoder = EccodesGribDecoder()
    parts = split_by_day(path, tmp_path / "days", decoder)
    assert [day for day, _ in parts] == days
    assert b"".join(p.read_bytes() for _, p in parts) == path.read_bytes()
    original = decoder.scan(str(path))
    got = []
    for day, part in parts:
        messages = decoder.scan(str(part))  # a valid GRIB file on its own (padding included)
        assert len(messages) == per_day
        assert {m.reference_time.date() for m in messages} == {day}
        assert part.name == f"{path.stem}_{day.isoformat()}{path.suffix}"
        got += _message_bytes(part, messages)
    assert got == _message_bytes(path, original)
    assert sorted(p.name for p in (tmp_path / "days").iterdir()) == sorted(p.name for _, p in parts)  # no leftovers


def test_interleaved_days_keep_file_order_within_each_day(tmp_path):
    """A file whose days alternate still splits: each day file holds its messages in the original order."""
    decoder = EccodesGribDecoder()
    messages = decoder.scan(str(GLOBAL))
    body = GLOBAL.read_bytes()
    day1 = [m for m in messages if m.reference_time.day == 1][:5]
    day2 = [m for m in messages if m.reference_time.day == 2][:5]
    mixed = [m for pair in zip(day2, day1) for m in pair]  # 2nd day first, alternating
    source = tmp_path / "mixed.grib"
    source.write_bytes(b"".join(body[m.offset:m.offset + m.length] for m in mixed))
    parts = split_by_day(source, tmp_path / "out", decoder)
    assert [day for day, _ in parts] == [date(2019, 1, 1), date(2019, 1, 2)]
    assert [p.read_bytes() for _, p in parts] == [b"".join(body[m.offset:m.offset + m.length] for m in day)
                                                 for day in (day1, day2)]


def test_a_file_that_is_not_grib_is_refused_and_nothing_written(tmp_path):
    source = tmp_path / "junk.grib"
    source.write_bytes(GLOBAL.read_bytes()[:5000] + b"junk")
    with pytest.raises(InvalidInput, match="neither GRIB nor zero padding|not decodable"):
        split_by_day(source, tmp_path / "out", EccodesGribDecoder())
    assert not (tmp_path / "out").exists()


def test_command_line(tmp_path, capsys):
    main([str(EAC4), str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["2003-01-01", "2003-01-02"]
    assert sum((tmp_path / line.split()[1].rsplit("/", 1)[1]).stat().st_size for line in lines) == EAC4.stat().st_size


def test_a_rerun_after_a_kill_replaces_what_the_killed_split_left(tmp_path):
    """A split killed mid-write leaves a ``.partial`` file (never a half day file under the final name); the re-run
    writes every day file whole and leaves no partial behind."""
    out = tmp_path / "days"
    out.mkdir()
    stale = out / f"{GLOBAL.stem}_2019-01-01{GLOBAL.suffix}.partial"
    stale.write_bytes(GLOBAL.read_bytes()[:777])  # what a kill after a few writes leaves
    (out / f"{GLOBAL.stem}_2019-01-02{GLOBAL.suffix}").write_bytes(b"an older, wrong day file")
    parts = split_by_day(GLOBAL, out, EccodesGribDecoder())
    assert b"".join(p.read_bytes() for _, p in parts) == GLOBAL.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for _, p in parts)
