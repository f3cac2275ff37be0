"""Ports: the protocols the use cases talk to. Adapters implement them."""

from .catalog import Catalog
from .clock import Clock, IdGenerator
from .runner import (AdsTuning, IngestJob, IngestManifest, Runner, RunnerEvent, Secret, SinkTarget, Upstream, upstream_job_of,
                     with_upstream_job)
from .storage import ObjectInfo, ObjectStore
from .transform import GribDecoder, TileFormat

__all__ = ["AdsTuning", "Catalog", "Clock", "GribDecoder", "IdGenerator", "IngestJob", "IngestManifest", "ObjectInfo",
           "ObjectStore", "Runner", "RunnerEvent", "Secret", "SinkTarget", "TileFormat", "Upstream", "upstream_job_of",
           "with_upstream_job"]
