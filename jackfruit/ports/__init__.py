"""Ports: the protocols the use cases talk to. Adapters implement them."""

from .catalog import Catalog
from .clock import Clock, IdGenerator
from .runner import (AdsTuning, IngestJob, IngestManifest, JobQuery, Runner, RunnerEvent, Secret, SinkTarget, Upstream,
                     UpstreamJob, upstream_job_of, with_upstream_job)
from .storage import ObjectInfo, ObjectStore
from .transform import GribDecoder, TileFormat

__all__ = ["AdsTuning", "Catalog", "Clock", "GribDecoder", "IdGenerator", "IngestJob", "IngestManifest", "JobQuery", "ObjectInfo",
           "ObjectStore", "Runner", "RunnerEvent", "Secret", "SinkTarget", "TileFormat", "Upstream", "UpstreamJob", "upstream_job_of",
           "with_upstream_job"]
