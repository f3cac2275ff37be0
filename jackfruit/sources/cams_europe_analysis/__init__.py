"""CAMS European air-quality analyses: the same upstream dataset as the forecasts
(``cams-europe-air-quality-forecasts``) with ``type: analysis``, hourly times and lead time 0. The worked example of
docs/sources.md: a new dataset is this folder and its entry point in ``pyproject.toml``."""

from jackfruit.sources.cams_europe import CamsEuropeProfile
from jackfruit.sources.cams_europe.codes import MAIN_SPECIES

PROFILE = CamsEuropeProfile(
    name="cams-europe-air-quality-forecasts-analysis",
    request_type="analysis",
    template={
        "variable": list(MAIN_SPECIES),
        "model": ["ensemble"],
        "level": ["0"],
        "type": ["analysis"],
        "time": [f"{h:02d}:00" for h in range(24)],
        "leadtime_hour": ["0"],
        "data_format": "grib",
    },
    description="CAMS European air quality analyses (ensemble and models), hourly, GRIB2 from the Atmosphere Data "
                "Store",
    schedule="0 13 * * *",
)
