"""CAMS global atmospheric composition forecasts (ADS ``cams-global-atmospheric-composition-forecasts``): ECMWF's
IFS-COMPO, two cycles a day (00 and 12 UTC) with lead times 0..120 h, 0.4 degree global grid; single-level fields
hourly, pressure- and model-level fields 3-hourly; GRIB1 and GRIB2 mixed in one file. One partition is one day
with both cycles (docs/adr/0014-partitioning-per-dataset.md)."""

from datetime import date, datetime, timezone
from pathlib import Path

from . import codes
from .profile import CamsGlobalProfile

UPSTREAM = "cams-global-atmospheric-composition-forecasts"
_DATA = Path(__file__).resolve().parent / "data"


def available_until(now: datetime) -> date:
    """Today (UTC): a day's 00 UTC forecast starts that day, so no later day exists yet (the ingester waits for
    today's, published some hours after each cycle)."""
    return now.astimezone(timezone.utc).date()


PROFILE = CamsGlobalProfile(
    name=UPSTREAM,
    upstream_dataset=UPSTREAM,
    template={
        "variable": ["nitrogen_dioxide", "ozone", "particulate_matter_2.5um", "particulate_matter_10um"],
        "pressure_level": ["1000"],
        "type": ["forecast"],
        "time": ["00:00", "12:00"],
        "leadtime_hour": [str(h) for h in range(121)],
        "data_format": "grib",
    },
    description="CAMS global atmospheric composition forecasts (ECMWF IFS-COMPO, 0.4 degree, 00/12 UTC, 0..120 h), "
                "GRIB1/GRIB2 from the Atmosphere Data Store",
    schedule="0 23 * * *",
    first_day=date(2015, 1, 1),
    cycles=(0, 12),
    grid_step=0.4,
    variables=tuple(codes.VARIABLES),
    max_model_level=137,
    horizon=available_until,
    max_leadtime=120,
    multi_level_step=3,
    synthetic_templates={"grib1": _DATA / "cams-global-grib1-template.grib",
                         "grib2": _DATA / "cams-global-grib2-template.grib"},
)

__all__ = ["PROFILE", "UPSTREAM", "CamsGlobalProfile"]
