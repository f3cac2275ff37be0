"""jackfruit: land source products as raw evidence, curate them into indexed Zarr tiles, keep lineage.

Public API (everything else is internal and may change)::

    import jackfruit
    app = jackfruit.Jackfruit.from_settings()          # adapters chosen by environment / .env
    run = app.ingest("cams-europe-air-quality-forecasts", date(2025, 3, 12))
    tiles = app.transform(run.run_id)
    ds = app.read(jackfruit.BBox(5, 45, 10, 50), jackfruit.TimeRange(start, end), ["ozone"])
"""

from .domain.errors import (BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError, NotFound,
                            UpstreamRefused)
from .domain.geo import BBox, TimeRange
from .domain.keys import RawKey
from .domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile

__version__ = "0.1.0"

__all__ = ["BBox", "BackendUnavailable", "Conflict", "Dataset", "IngestionRun", "IntegrityError", "InvalidInput",
           "Jackfruit", "JackfruitError", "LineageEdge", "NotFound", "RawKey", "RunStatus", "Settings", "Tile",
           "TimeRange", "UpstreamRefused", "__version__"]


def __getattr__(name: str) -> object:
    # The facade and settings pull in numpy/zarr/eccodes: load them on first use, not on import.
    if name == "Jackfruit":
        from .app import Jackfruit
        return Jackfruit
    if name == "Settings":
        from .settings import Settings
        return Settings
    raise AttributeError(f"module 'jackfruit' has no attribute {name!r}")
