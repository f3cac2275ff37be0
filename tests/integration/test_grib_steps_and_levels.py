"""Lead times in every time unit GRIB1 and GRIB2 write: the decoder reports whole hours, from the edition's own
keys, or refuses the file naming the message; levels likewise whole, never rounded into another level.
Messages are a real GRIB1 message (the CAMS global forecast's first) and a real GRIB2 one (COSMO's) with only
their time or level keys changed by ecCodes; the expected hours are ecCodes' own ``startStep`` in hours, read
here independently."""

from __future__ import annotations

import eccodes
import pytest

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.errors import InvalidInput

from ..conftest import DATA

GLOBAL = DATA / "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"
COSMO = DATA / "cosmo_2t_step_60m_0to72h.grib"


def _variant(tmp_path, source, index, keys: dict) -> tuple:
    """A one-message file: message ``index`` of ``source`` with ``keys`` set; and ecCodes' endStep in hours."""
    with open(source, "rb") as f:
        for _ in range(index + 1):
            h = eccodes.codes_grib_new_from_file(f)
    try:
        for key, value in keys.items():
            eccodes.codes_set(h, key, value)
        body = eccodes.codes_get_message(h)
    finally:
        eccodes.codes_release(h)
    path = tmp_path / "one.grib"
    path.write_bytes(body)
    h = eccodes.codes_new_from_message(body)
    try:
        eccodes.codes_set(h, "stepUnits", "h")
        hours = eccodes.codes_get(h, "startStep")
    except eccodes.GribInternalError:
        hours = None  # ecCodes cannot say it in hours either
    finally:
        eccodes.codes_release(h)
    return path, hours


@pytest.mark.parametrize("keys, hours", [
    ({"timeRangeIndicator": 0, "unitOfTimeRange": 1, "P1": 7}, 7),
    ({"timeRangeIndicator": 0, "unitOfTimeRange": 0, "P1": 120}, 2),  # minutes
    ({"timeRangeIndicator": 0, "unitOfTimeRange": 2, "P1": 2}, 48),  # days
    ({"timeRangeIndicator": 0, "unitOfTimeRange": 10, "P1": 2}, 6),  # 3-hour units
    ({"timeRangeIndicator": 0, "unitOfTimeRange": 13, "P1": 8}, 2),  # GRIB1 13 is a quarter of an hour
    ({"timeRangeIndicator": 10, "unitOfTimeRange": 1, "P1": 1, "P2": 44}, 300),  # P1 in two octets
    ({"timeRangeIndicator": 10, "unitOfTimeRange": 254, "P1": 28, "P2": 32}, 2),  # 7200 seconds
    ({"timeRangeIndicator": 4, "unitOfTimeRange": 1, "P1": 3, "P2": 6}, 3),  # an accumulation: its start
])
def test_grib1_lead_time_in_hours(tmp_path, keys, hours):
    path, ecc_hours = _variant(tmp_path, GLOBAL, 0, keys)
    assert ecc_hours == hours  # the expectation is ecCodes' own reading too
    (m,) = EccodesGribDecoder().scan(str(path))
    assert (m.edition, m.step_hours) == (1, hours)


@pytest.mark.parametrize("edition, keys", [
    (1, {"timeRangeIndicator": 0, "unitOfTimeRange": 0, "P1": 90}),  # 90 minutes
    (1, {"timeRangeIndicator": 0, "unitOfTimeRange": 3, "P1": 1}),  # one month
    (2, {"indicatorOfUnitOfTimeRange": 0, "forecastTime": 90}),
])
def test_lead_time_not_in_whole_hours_is_refused_naming_the_message(tmp_path, edition, keys):
    path, _ = _variant(tmp_path, GLOBAL if edition == 1 else COSMO, 0 if edition == 1 else 1, keys)
    with pytest.raises(InvalidInput, match=rf"message 1 \(byte offset 0\): lead time \d+ in GRIB{edition} time "
                                           r"unit \d+ is not a whole number of hours"):
        EccodesGribDecoder().scan(str(path))


@pytest.mark.parametrize("keys, hours", [
    ({"indicatorOfUnitOfTimeRange": 0, "forecastTime": 180}, 3),  # minutes
    ({"indicatorOfUnitOfTimeRange": 13, "forecastTime": 10800}, 3),  # GRIB2 13 is a second
    ({"indicatorOfUnitOfTimeRange": 11, "forecastTime": 2}, 12),
])
def test_grib2_lead_time_in_hours(tmp_path, keys, hours):
    path, ecc_hours = _variant(tmp_path, COSMO, 1, keys)
    assert ecc_hours == hours
    (m,) = EccodesGribDecoder().scan(str(path))
    assert (m.edition, m.step_hours) == (2, hours)


@pytest.mark.parametrize("factor, value, level", [(0, 2, 2), (1, 20, 2), (2, 1000, 10)])
def test_grib2_scaled_whole_levels_are_read(tmp_path, factor, value, level):
    path, _ = _variant(tmp_path, COSMO, 0, {"scaleFactorOfFirstFixedSurface": factor,
                                            "scaledValueOfFirstFixedSurface": value})
    (m,) = EccodesGribDecoder().scan(str(path))
    assert (m.type_of_level, m.level) == ("heightAboveGround", level)


def test_a_level_that_is_not_whole_is_refused_not_rounded_into_another(tmp_path):
    """ecCodes' integer ``level`` of 1.5 m is 2: the level of 2 m. The scan refuses rather than merge them."""
    path, _ = _variant(tmp_path, COSMO, 0, {"scaleFactorOfFirstFixedSurface": 1, "scaledValueOfFirstFixedSurface": 15})
    with pytest.raises(InvalidInput, match=r"message 1 \(byte offset 0\): level 1.5 \(heightAboveGround\) is not a "
                                           r"whole number"):
        EccodesGribDecoder().scan(str(path))
