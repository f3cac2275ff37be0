"""Jackfruit: the facade users import. It holds one adapter per port and calls the use cases."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Mapping, Sequence

from .domain.coverage import DayCoverage
from .domain.geo import BBox, TimeRange
from .domain.model import Dataset, IngestionRun, LineageEdge, RunStatus, Tile
from .ports import Catalog, Clock, GribDecoder, IdGenerator, ObjectStore, Runner, TileFormat, Upstream
from .ports.runner import RunnerEvent
from .ports.source import Profiles, SourceProfile
from .registry import default_registry
from .settings import Settings
from . import usecases
from .usecases.land import land_file


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
    work_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "jackfruit-work"))
    lease_ttl: timedelta = timedelta(seconds=60)
    #: at most this many ingestions of one source in flight at once, across processes (ADS_MAX_JOBS_IN_FLIGHT)
    max_ingest_in_flight: int | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    #: the source profiles, by dataset name (default: those installed, ``jackfruit.registry``)
    profiles: Profiles = field(default_factory=default_registry)
    #: releases what the container opened for this app (the catalog's connections); set by ``from_settings``
    closer: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> "Jackfruit":
        """Wire the adapters the settings select (environment by default); ``overrides`` replace single ports
        (an overridden port is never built). Close the app (``close()`` or ``with``) to release the catalog."""
        from .container import build_container

        c = build_container(settings)
        providers = dict(catalog=c.catalog, raw_store=c.raw_store, curated_store=c.curated_store, runner=c.runner,
                         decoder=c.decoder, tile_format=c.tile_format, clock=c.clock, ids=c.ids, upstream=c.upstream,
                         work_dir=c.work_dir, lease_ttl=c.lease_ttl,
                         max_ingest_in_flight=c.max_ingest_in_flight)
        try:
            ports = {name: provider() for name, provider in providers.items() if name not in overrides}
            ports.update(overrides)
            app = cls(**ports, closer=c.shutdown_resources)
            app.register_builtin_datasets()
        except BaseException:
            c.shutdown_resources()
            raise
        return app

    def close(self) -> None:
        """Release the resources the container opened (the SQL catalog's connections or pool); idempotent.
        Ports passed in by the caller are the caller's to close."""
        closer, self.closer = self.closer, None
        if closer is not None:
            closer()

    def __enter__(self) -> "Jackfruit":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_builtin_datasets(self) -> None:
        """Record every registered profile's definition in the catalog (``jackfruit datasets`` lists them)."""
        usecases.register_profiles(self.catalog, self.profiles)

    def profile(self, dataset: str) -> SourceProfile:
        """The source profile of ``dataset`` (``NotFound`` naming the registered ones)."""
        return self.profiles.get(dataset)

    def datasets(self) -> list[Dataset]:
        """The catalog's datasets (each definition with its version)."""
        return self.catalog.list_datasets()

    def ingest(self, dataset: str, day: date, overrides: Mapping[str, Any] | None = None, *,
               orchestrator_run_id: str | None = None, upstream: Upstream | None = None, supersede: bool = False,
               on_event: Callable[[RunnerEvent], None] | None = None, fresh: bool = False) -> IngestionRun:
        """Claim and land one partition (docs/runs.md): ``Conflict`` if it already succeeded (unless
        ``supersede``) or another live ingest holds it; an expired claim is taken over and resumed; a failed run
        whose upstream job is still held is re-opened and resumes it (``fresh``: a new job in a new run instead).
        The landed file is checked against the request: the run is ``succeeded`` or ``quarantined``
        (``details["acceptance"]``)."""
        order = usecases.IngestOrder(dataset, day, overrides, supersede=supersede, fresh=fresh,
                                     orchestrator_run_id=orchestrator_run_id)
        ports = usecases.IngestPorts(self.catalog, self.runner, self.raw_store, self.decoder, self.clock, self.ids,
                                     upstream or self.upstream, self.profiles)
        return usecases.ingest_partition(ports, self.claimant, order, on_event=on_event,
                                         max_in_flight=self.max_ingest_in_flight)

    @property
    def claimant(self) -> "usecases.Claimant":
        """This process as the holder of the claims its use cases take."""
        return usecases.Claimant(self.owner, self.lease_ttl, self.work_dir)

    def land(self, path: str | os.PathLike[str], *, dataset: str, partition_date: date,
             supersede: bool = False) -> IngestionRun:
        """Land a GRIB file the user already has as one partition of ``dataset``: write-once into the raw store
        under a new run whose request is read from the file's own headers, then the acceptance check; the file
        is never changed (``jackfruit land``)."""
        return land_file(catalog=self.catalog, raw_store=self.raw_store, decoder=self.decoder, clock=self.clock,
                         ids=self.ids, path=os.fspath(path), dataset=dataset, profile=self.profiles.get(dataset),
                         day=partition_date, owner=self.owner,
                         lease_ttl=self.lease_ttl, work_dir=self.work_dir, supersede=supersede)

    def transform(self, run_id: str, progress: Callable[[int, int], None] | None = None,
                  on_phase: Callable[[str], None] | None = None, version: str | None = None) -> list[Tile]:
        """Transform a succeeded run; ``version`` (this jackfruit's ``TRANSFORMATION_VERSION``) re-derives a run
        already transformed under an older version, its new tiles next to the old ones."""
        ports = usecases.TransformPorts(self.catalog, self.raw_store, self.curated_store, self.decoder,
                                        self.tile_format, self.clock, self.ids, self.profiles)
        return usecases.transform_run(ports, self.claimant, run_id, progress=progress, on_phase=on_phase,
                                      version=version)

    def reap(self, older_than: timedelta) -> list[IngestionRun]:
        """Fail open runs whose ingest claim expired more than ``older_than`` ago (deletes nothing)."""
        return usecases.reap(self.catalog, self.clock, older_than)

    def gc(self, dry_run: bool = False) -> "usecases.GcReport":
        """End expired attempts, then remove what ended attempts left (scratch, staged uploads, unpublished tile
        objects, the runner's leftover containers); ``dry_run``: change nothing, list what would go."""
        return usecases.collect_garbage(catalog=self.catalog, raw_store=self.raw_store,
                                        curated_store=self.curated_store, clock=self.clock, work_dir=self.work_dir,
                                        runner=self.runner, dry_run=dry_run)

    def gc_superseded(self, grace: timedelta, dry_run: bool = False,
                      on_tile: Callable[[int, int, str], None] | None = None) -> "usecases.SupersededReport":
        """Remove the objects of tiles no longer current for at least ``grace`` (records and lineage stay);
        ``on_tile(i, total, key)`` before each tile."""
        return usecases.collect_superseded(catalog=self.catalog, curated_store=self.curated_store, clock=self.clock,
                                           grace=grace, dry_run=dry_run, on_tile=on_tile)

    def repair(self, run_id: str) -> "usecases.RepairReport":
        """Rewrite a run's missing or damaged current tiles from its raw object, at their recorded keys, under the same
        version (``jackfruit repair``); each rewritten tile must hash as the catalog recorded it."""
        return usecases.repair_run(catalog=self.catalog, raw_store=self.raw_store, curated_store=self.curated_store,
                                   decoder=self.decoder, tile_format=self.tile_format, ids=self.ids,
                                   work_dir=self.work_dir, run_id=run_id, profiles=self.profiles)

    def verify(self, run_id: str | None = None) -> "usecases.VerifyReport":
        """Re-hash raw objects and tiles against the catalog; report every mismatch."""
        return usecases.verify(catalog=self.catalog, raw_store=self.raw_store, curated_store=self.curated_store,
                               tile_format=self.tile_format, run_id=run_id)

    def find_tiles(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None,
                   **filters: Any) -> list[Tile]:
        return usecases.find_tiles(self.catalog, self.profiles, bbox, time_range, variables, **filters)

    def read(self, bbox: BBox, time_range: TimeRange, variables: Sequence[str] | None = None, *,
             layout: str = "forecast", **filters: Any) -> Any:
        """The grid points in ``bbox`` at valid times in ``time_range`` as one ``xarray.Dataset``: ``layout``
        ``"forecast"`` (forecast_reference_time, step, latitude, longitude) or ``"valid_time"`` (valid_time,
        latitude, longitude), each with ``present`` (README "Reading"). ``NotFound`` names what is missing."""
        return usecases.read(self.catalog, self.profiles, self.curated_store, self.tile_format, bbox, time_range,
                             variables,
                             layout=layout, **filters)

    def coverage(self, dataset: str, start: date, end: date) -> list[DayCoverage]:
        """Per partition day: complete, partial (what is missing) or why not (``jackfruit coverage``)."""
        return usecases.coverage(self.catalog, self.profiles, dataset, start, end)

    def tile_sources(self, tile_key: str) -> dict[str, Any]:
        """The raw object and the byte range of each GRIB message a tile was made from."""
        return usecases.tile_sources(self.catalog, self.curated_store, self.tile_format, tile_key)

    def run(self, run_id: str) -> IngestionRun:
        return self.catalog.get_run(run_id)

    def runs(self, dataset: str | None = None, status: RunStatus | None = None, limit: int = 100) -> list[IngestionRun]:
        return self.catalog.list_runs(dataset, status, limit)

    def lineage(self, *, raw_key: str | None = None, tile_key: str | None = None) -> list[LineageEdge]:
        return self.catalog.lineage(raw_key=raw_key, tile_key=tile_key)
