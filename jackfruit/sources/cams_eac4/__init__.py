"""CAMS global reanalysis EAC4 (ADS ``cams-global-reanalysis-eac4``): ECMWF's fourth atmospheric-composition
reanalysis, analyses every 3 hours (00..21 UTC, no lead time), pressure levels and 60 model levels, 0.75 degree
global grid, GRIB1. Published months late: the horizon keeps schedules off days the upstream cannot have yet. One
partition is one day, its eight analysis times (docs/adr/0014-partitioning-per-dataset.md)."""

from datetime import date, datetime, timezone
from pathlib import Path

from jackfruit.sources.cams_global import CamsGlobalProfile, codes

UPSTREAM = "cams-global-reanalysis-eac4"
#: days between the end of the last half-year the upstream holds and now, at least (see ``available_until``)
LAG_DAYS = 183


def available_until(now: datetime) -> date:
    """The last day of the last half-year (30 June or 31 December) that ended at least ``LAG_DAYS`` (six months)
    before ``now``. EAC4 is extended in batches, months after the fact: the ADS catalogue record of the EAC4
    monthly means (metadata of 2024-08-07) covered 2003-01-01 .. 2023-12-31, seven months behind; a four-month
    horizon would have asked for days it did not have. See docs/adr/0014-partitioning-per-dataset.md."""
    today = now.astimezone(timezone.utc).date()
    year = today.year
    while True:
        for end in (date(year, 12, 31), date(year, 6, 30)):
            if (today - end).days >= LAG_DAYS:
                return end
        year -= 1


PROFILE = CamsGlobalProfile(
    name=UPSTREAM,
    upstream_dataset=UPSTREAM,
    template={
        "variable": ["ozone", "nitrogen_dioxide", "carbon_monoxide", "particulate_matter_2.5um"],
        "pressure_level": [str(p) for p in codes.PRESSURE_LEVELS],
        "time": [f"{h:02d}:00" for h in range(0, 24, 3)],
        "data_format": "grib",
    },
    description="CAMS global reanalysis EAC4 (ECMWF, 0.75 degree, 3-hourly analyses), GRIB1 from the Atmosphere "
                "Data Store",
    schedule="0 6 * * 1",
    first_day=date(2003, 1, 1),
    cycles=tuple(range(0, 24, 3)),
    grid_step=0.75,
    variables=tuple(codes.VARIABLES),
    max_model_level=60,
    horizon=available_until,
    default_level=("pressure", 1000),
    synthetic_templates={"grib1": Path(__file__).resolve().parent / "data" / "cams-eac4-template.grib"},
)

__all__ = ["PROFILE", "UPSTREAM"]
