"""Use case: register a dataset; and the built-in definition of CAMS Europe."""

from __future__ import annotations

from jackfruit.domain import cams
from jackfruit.domain.model import Dataset
from jackfruit.ports import Catalog

CAMS_EUROPE = Dataset(
    source="ads",
    name="cams-europe-air-quality-forecasts",
    request_template={
        "variable": list(cams.MAIN_SPECIES),
        "model": ["ensemble"],
        "level": ["0"],
        "type": ["forecast"],
        "time": ["00:00"],
        "leadtime_hour": [str(h) for h in range(97)],
        "data_format": "grib",
    },
    variables=tuple(cams.SPECIES_BY_NAME),
    ext="grib",
    description="CAMS European air quality forecasts (ensemble and models), GRIB2 from the Atmosphere Data Store",
    schedule="0 12 * * *",
)

BUILTIN_DATASETS = (CAMS_EUROPE,)


def register_dataset(catalog: Catalog, dataset: Dataset) -> Dataset:
    """Register ``dataset`` (idempotent for an identical definition; ``Conflict`` otherwise)."""
    catalog.add_dataset(dataset)
    return dataset
