"""Jackfruit: the facade users import. It holds one adapter per port and calls the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping, Sequence

from .domain.geo import BBox, TimeRange
from .domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile
from .ports import Catalog, Clock, GribDecoder, IdGenerator, ObjectStore, Runner, TileFormat, Upstream
from .settings import Settings
from . import usecases


@dataclass
class Jackfruit:
    """Every port injected; build one with ``Jackfruit.from_settings()`` or pass adapters yourself (tests)."""

    catalog: Catalog
    raw_store: ObjectStore
    curated_store: ObjectStore
    runner: Runner
    decoder: GribDecoder
    tile_format: TileFormat
    clock: Clock
    ids: IdGenerator
    upstream: Upstream
    workdir: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> "Jackfruit":
        """Wire the adapters the settings select (environment by default); ``overrides`` replace single ports."""
        from .container import build_container

        c = build_container(settings)
        ports = dict(catalog=c.catalog(), raw_store=c.raw_store(), curated_store=c.curated_store(),
                     runner=c.runner(), decoder=c.decoder(), tile_format=c.tile_format(), clock=c.clock(),
                     ids=c.ids(), upstream=c.upstream())
        ports.update(overrides)
        app = cls(**ports)
        app.register_builtin_datasets()
        return app

    def register_builtin_datasets(self) -> None:
        for dataset in usecases.BUILTIN_DATASETS:
            usecases.register_dataset(self.catalog, dataset)

    def register_dataset(self, dataset: Dataset) -> Dataset:
        return usecases.register_dataset(self.catalog, dataset)

    def ingest(self, dataset: str, day: date, overrides: Mapping[str, Any] | None = None, *,
               orchestrator_run_id: str | None = None, upstream: Upstream | None = None) -> IngestionRun:
        return usecases.ingest_partition(
            catalog=self.catalog, runner=self.runner, raw_store=self.raw_store, clock=self.clock, ids=self.ids,
            upstream=upstream or self.upstream, dataset=dataset, day=day, overrides=overrides,
            orchestrator_run_id=orchestrator_run_id)

    def transform(self, run_id: str, progress: Callable[[int, int], None] | None = None) -> list[Tile]:
        return usecases.transform_run(catalog=self.catalog, raw_store=self.raw_store,
                                      curated_store=self.curated_store, decoder=self.decoder,
                                      tile_format=self.tile_format, run_id=run_id, workdir=self.workdir,
                                      progress=progress)

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   **filters: Any) -> list[Tile]:
        return usecases.find_tiles(self.catalog, bbox, time_range, variables, **filters)

    def read(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None, **filters: Any) -> Any:
        return usecases.read(self.catalog, self.curated_store, self.tile_format, bbox, time_range, variables,
                             **filters)

    def run(self, run_id: str) -> IngestionRun:
        return self.catalog.get_run(run_id)

    def runs(self, dataset: str | None = None, status: RunStatus | None = None, limit: int = 100) -> list[IngestionRun]:
        return self.catalog.list_runs(dataset, status, limit)

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        return self.catalog.lineage(raw_key=raw_key, tile_key=tile_key)
