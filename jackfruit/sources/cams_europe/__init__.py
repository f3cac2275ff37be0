"""CAMS European air-quality forecasts (ADS ``cams-europe-air-quality-forecasts``, ``type: forecast``): 0.1° over
Europe, GRIB2 template 4.40, one run a day at 00 UTC with lead times 0..96 h."""

from .codes import MAIN_SPECIES
from .profile import UPSTREAM, CamsEuropeProfile

PROFILE = CamsEuropeProfile(
    name="cams-europe-air-quality-forecasts",
    request_type="forecast",
    template={
        "variable": list(MAIN_SPECIES),
        "model": ["ensemble"],
        "level": ["0"],
        "type": ["forecast"],
        "time": ["00:00"],
        "leadtime_hour": [str(h) for h in range(97)],
        "data_format": "grib",
    },
    description="CAMS European air quality forecasts (ensemble and models), GRIB2 from the Atmosphere Data Store",
    schedule="0 12 * * *",
)

__all__ = ["PROFILE", "UPSTREAM", "CamsEuropeProfile"]
