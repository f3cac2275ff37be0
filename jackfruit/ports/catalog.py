"""Catalog: datasets, ingestion runs, tiles (space/time index) and lineage."""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence, runtime_checkable

from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile


@runtime_checkable
class Catalog(Protocol):
    """The metadata database.

    Raises: ``NotFound`` (unknown dataset/run), ``Conflict`` (a dataset registered differently,
    a run id or raw key reused, a run published twice, a tile key reused),
    ``BackendUnavailable`` (database unreachable). Every method is atomic.
    """

    def add_dataset(self, dataset: Dataset) -> None:
        """Register; registering the identical definition again is a no-op."""
        ...

    def get_dataset(self, name: str) -> Dataset: ...

    def list_datasets(self) -> list[Dataset]: ...

    def add_run(self, run: IngestionRun) -> None:
        """Insert a new run; its dataset must be registered."""
        ...

    def update_run(self, run: IngestionRun) -> None:
        """Replace a stored run by its new state (same run id)."""
        ...

    def get_run(self, run_id: str) -> IngestionRun: ...

    def list_runs(self, dataset: str | None = None, status: RunStatus | None = None,
                  limit: int = 100) -> list[IngestionRun]:
        """Newest first."""
        ...

    def publish(self, run_id: str, tiles: Sequence[Tile], lineage: Iterable[LineageEdge]) -> None:
        """Make a run's tiles and lineage visible together, or not at all."""
        ...

    def tiles_of_run(self, run_id: str) -> list[Tile]: ...

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   dataset: str | None = None, model: str | None = None,
                   level_m: int | None = None) -> list[Tile]:
        """Tiles whose cell meets ``bbox`` (``BBox.meets_cell``) and whose valid times overlap
        ``time_range`` (``TimeRange.overlaps``), ordered by (variable, model, level, reference time, cell)."""
        ...

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]: ...
