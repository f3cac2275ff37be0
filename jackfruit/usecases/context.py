"""What travels together into the claim-holding use cases: their ports, the claimant, and what to land."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from jackfruit.ports import Catalog, Clock, GribDecoder, IdGenerator, ObjectStore, Runner, TileFormat, Upstream
from jackfruit.ports.source import Profiles


@dataclass(frozen=True)
class Claimant:
    """Who holds the claims a use case takes (``owner``, e.g. ``host:pid``), how long a lease lasts between
    heartbeats, and where its attempts keep their scratch folders (``{work_dir}/{attempt_id}``)."""

    owner: str
    lease_ttl: timedelta
    work_dir: str


@dataclass(frozen=True)
class IngestPorts:
    """The driven side of an ingestion: the catalog, the runner that lands the product, the raw store it lands in,
    the decoder of the acceptance check, the clock, the id generator, the upstream to ask, and the source profiles."""

    catalog: Catalog
    runner: Runner
    raw_store: ObjectStore
    decoder: GribDecoder
    clock: Clock
    ids: IdGenerator
    upstream: Upstream
    profiles: Profiles  # the dataset's source profile (request rules, naming, horizon)


@dataclass(frozen=True)
class TransformPorts:
    """The driven side of a transformation: catalog, raw and curated stores, decoder, tile format, clock, ids."""

    catalog: Catalog
    raw_store: ObjectStore
    curated_store: ObjectStore
    decoder: GribDecoder
    tile_format: TileFormat
    clock: Clock
    ids: IdGenerator
    profiles: Profiles  # the dataset's source profile (message naming, tile attributes)


@dataclass(frozen=True)
class IngestOrder:
    """What to land: one day of a dataset, the request fields that override its template, and how (``supersede``:
    a new version of a partition that succeeded; ``fresh``: a new upstream job even where one could be resumed;
    ``orchestrator_run_id``: the orchestrator's run, recorded on the run)."""

    dataset: str
    day: date
    overrides: Mapping[str, Any] | None = None
    supersede: bool = False
    fresh: bool = False
    orchestrator_run_id: str | None = None
