"""Use cases: what jackfruit does, written against ports only."""

from .context import Claimant, IngestOrder, IngestPorts, TransformPorts
from .coverage import coverage
from .datasets import register_dataset, register_profiles
from .housekeeping import GcReport, SupersededReport, VerifyReport, collect_garbage, collect_superseded, reap, verify
from .ingest import ingest_partition
from .lineage import tile_sources
from .repair import RepairReport, repair_run
from .search import find_tiles, read
from .transform import transform_run

__all__ = ["Claimant", "GcReport", "IngestOrder", "IngestPorts", "RepairReport",
           "SupersededReport", "TransformPorts", "VerifyReport", "collect_garbage", "collect_superseded", "coverage",
           "find_tiles", "ingest_partition", "read", "reap", "register_dataset", "repair_run", "tile_sources",
           "transform_run", "verify"]
