"""The Catalog contract: every adapter binds ``make_catalog`` and must pass every test here."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.keys import RawKey, new_uuid7, tile_key
from jackfruit.domain.model import (TRANSFORMATION_VERSION, AttemptKind, Dataset, IngestionRun, LineageEdge, RunStatus,
                                    Tile, TransformStatus)

CUR = TRANSFORMATION_VERSION
NEXT, PREV = str(int(CUR) + 1), str(int(CUR) - 1)
from jackfruit.ports import Catalog

DATASET = "cams-europe-air-quality-forecasts"
SOURCE = "ads"
T0 = datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc)
MS0 = int(T0.timestamp() * 1000)


def dataset(name: str = DATASET, variables: tuple[str, ...] = ("nitrogen_dioxide", "ozone")) -> Dataset:
    template = {"variable": list(variables), "model": ["ensemble"], "level": ["0"], "type": ["forecast"],
                "time": ["00:00"], "leadtime_hour": ["0", "24", "48"], "data_format": "grib"}
    return Dataset(source=SOURCE, name=name, request_template=template, variables=variables,
                   description="CAMS European air quality forecasts", schedule="0 9 * * *")


_PARTITIONS = itertools.count()
TILE_ATTEMPT = new_uuid7(MS0, bytes(10))
TTL = timedelta(seconds=60)


def aid() -> str:
    """A fresh attempt id."""
    return new_uuid7(MS0, os.urandom(10))


def run(offset_ms: int = 0, day: date = date(2025, 3, 1), name: str = DATASET, run_id: str | None = None,
        raw_key: str | None = None, partition: str | None = None) -> IngestionRun:
    """A new pending run; each call is its own partition unless ``partition`` names a shared one."""
    run_id = run_id or new_uuid7(MS0 + offset_ms, os.urandom(10))
    key = raw_key or str(RawKey(SOURCE, name, day, run_id, "grib"))
    # microseconds on purpose: the round trip must be exact, not rounded to seconds
    created = T0 + timedelta(milliseconds=offset_ms, microseconds=123)
    tag = partition if partition is not None else f"unique-{next(_PARTITIONS)}"
    request = dataset(name).request_for(day, {"area": [70, -25, 30, 45], "jackfruit_test_partition": tag})
    return IngestionRun(run_id=run_id, source=SOURCE, dataset=name, partition_date=day,
                        request=request, status=RunStatus.PENDING, created_at=created, raw_key=key)


def claim(c, r: IngestionRun, *, now: datetime = T0, ttl: timedelta = TTL, owner: str = "test-owner",
          attempt_id: str | None = None, supersede: bool = False) -> IngestionRun:
    return c.claim_ingest(r, attempt_id=attempt_id or aid(), owner=owner, now=now, expires_at=now + ttl,
                          supersede=supersede)


def landed(c, r: IngestionRun, now: datetime = T0) -> IngestionRun:
    """Claimed and succeeded (epoch 1)."""
    claim(c, r, now=now)
    return c.succeed(r.run_id, 1, now=now, size=1234, sha256="ab" * 32, upstream_job_id=f"job-{r.run_id[-6:]}")


def transforming(c, r: IngestionRun, now: datetime = T0) -> IngestionRun:
    landed(c, r, now)
    return c.claim_transform(r.run_id, attempt_id=aid(), owner="test-owner", now=now, expires_at=now + TTL)


def cell_id(south: int, west: int) -> str:
    """The 10-degree cell names of transformation versions 1-2, for readable test tiles."""
    return f"{'n' if south >= 0 else 's'}{abs(south):02d}{'e' if west >= 0 else 'w'}{abs(west):03d}"


def tile(r: IngestionRun, west: int = 0, south: int = 40, variable: str = "nitrogen_dioxide",
         model: str = "ensemble", level_m: int = 0, ref_h: int = 0, first_h: int = 0, last_h: int = 24,
         key: str | None = None) -> Tile:
    ref = T0 + timedelta(hours=ref_h)
    cid = cell_id(south, west)
    key = key or tile_key(r.dataset, variable, model, level_m, ref, cid, r.run_id, "2", TILE_ATTEMPT)
    return Tile(key=key, run_id=r.run_id, dataset=r.dataset, model=model, variable=variable, level_m=level_m,
                reference_time=ref, valid_start=ref + timedelta(hours=first_h),
                valid_end=ref + timedelta(hours=last_h), cell_id=cid, bbox=BBox(west, south, west + 10, south + 10),
                shape=(last_h - first_h + 1, 100, 100), size=4_000_000 + west,
                sha256=hashlib.sha256(key.encode()).hexdigest())


def edges(r: IngestionRun, tiles: list[Tile], sha: str = "ab" * 32) -> list[LineageEdge]:
    return [LineageEdge(r.raw_key, sha, t.key, r.run_id) for t in tiles]


def day_range(h0: float, h1: float) -> TimeRange:
    return TimeRange(T0 + timedelta(hours=h0), T0 + timedelta(hours=h1))


ALL_TIME = TimeRange(T0 - timedelta(days=30), T0 + timedelta(days=30))
WORLD = BBox(-180, -90, 180, 90)

# Cell edges and values a hair away from them: float32 (the R*Tree) cannot tell these apart.
_EDGES = [float(v) for v in range(-30, 31, 10)]
_COORD = st.one_of(st.sampled_from(_EDGES), st.sampled_from([v + d for v in _EDGES for d in (-1e-9, 1e-9)]),
                   st.floats(-35, 35, allow_nan=False))

# a hair off a value: below what float32 (an R*Tree's boxes) tells apart, and at its scale
_NUDGE = [0.0, -1e-9, 1e-9, -1e-6, 1e-6]
# a microsecond or a few off a whole hour (an index keyed on whole hours rounds these)
_MICROS = [0, -1, 1, -7, 7]


class CatalogContract:
    """Subclasses provide ``make_catalog``: a fixture returning a factory of fresh, empty catalogs."""

    @pytest.fixture
    def make_catalog(self):
        raise NotImplementedError

    @pytest.fixture
    def catalog(self, make_catalog):
        c = make_catalog()
        yield c
        c.close()

    @pytest.fixture
    def seeded(self, catalog):
        catalog.add_dataset(dataset())
        return catalog

    def published(self, c, r: IngestionRun, tiles: list[Tile]) -> list[Tile]:
        transforming(c, r)
        c.publish(r.run_id, 1, tiles, edges(r, tiles), now=T0)
        return tiles

    # -- datasets ---------------------------------------------------------------------------------------------
    def test_is_a_catalog(self, catalog):
        assert isinstance(catalog, Catalog)

    def test_dataset_round_trip(self, catalog):
        d = dataset()
        catalog.add_dataset(d)
        got = catalog.get_dataset(DATASET)
        assert got == d
        assert got.variables == ("nitrogen_dioxide", "ozone")
        assert got.request_template["leadtime_hour"] == ["0", "24", "48"]
        assert got.schedule == "0 9 * * *"

    def test_identical_dataset_again_is_noop(self, catalog):
        catalog.add_dataset(dataset())
        catalog.add_dataset(dataset())
        assert catalog.list_datasets() == [dataset()]

    def test_different_dataset_same_name_conflicts(self, catalog):
        catalog.add_dataset(dataset())
        with pytest.raises(Conflict):
            catalog.add_dataset(dataset(variables=("ozone",)))
        assert catalog.get_dataset(DATASET).variables == ("nitrogen_dioxide", "ozone")

    def test_a_newer_definition_version_replaces_an_older_one_is_kept_out(self, catalog):
        """One registration rule (``model.registration``) in every catalog: a newer version of a definition replaces
        the stored one; an older jackfruit registering its older version leaves the newer one; each records its
        upstream dataset id."""
        from dataclasses import replace

        v1 = replace(dataset(), upstream_dataset="cams-europe-air-quality-forecasts")
        catalog.add_dataset(v1)
        assert catalog.get_dataset(DATASET).version == 1
        v2 = replace(v1, variables=("ozone",), version=2, upstream_dataset="another-upstream-id")
        catalog.add_dataset(v2)
        assert catalog.get_dataset(DATASET) == v2 and catalog.list_datasets() == [v2]
        catalog.add_dataset(v1)  # an older jackfruit: the newer definition stays
        assert catalog.get_dataset(DATASET) == v2
        with pytest.raises(Conflict, match="same version 2"):
            catalog.add_dataset(replace(v2, description="changed without a new version"))
        assert catalog.get_dataset(DATASET) == v2

    def test_upstream_dataset_defaults_to_the_name(self, catalog):
        catalog.add_dataset(dataset())
        assert catalog.get_dataset(DATASET).upstream_dataset == DATASET

    def test_unknown_dataset_not_found(self, catalog):
        with pytest.raises(NotFound):
            catalog.get_dataset(DATASET)
        assert catalog.list_datasets() == []

    def test_list_datasets_by_name(self, catalog):
        catalog.add_dataset(dataset("cams-europe-air-quality-reanalyses"))
        catalog.add_dataset(dataset())
        assert [d.name for d in catalog.list_datasets()] == [DATASET, "cams-europe-air-quality-reanalyses"]

    def test_returned_dataset_is_a_copy(self, catalog):
        catalog.add_dataset(dataset())
        catalog.get_dataset(DATASET).request_template["model"].append("chimere")
        assert catalog.get_dataset(DATASET).request_template["model"] == ["ensemble"]

    # -- runs -------------------------------------------------------------------------------------------------
    def test_run_lifecycle_round_trips(self, seeded):
        r = run()
        claimed = claim(seeded, r, now=T0 + timedelta(seconds=1, microseconds=7))
        assert seeded.get_run(r.run_id) == claimed
        assert claimed.status is RunStatus.RUNNING and claimed.started_at == T0 + timedelta(seconds=1, microseconds=7)
        lease = claimed.lease(AttemptKind.INGEST)
        assert lease.epoch == 1 and lease.owner == "test-owner" and lease.live(T0 + timedelta(seconds=2))
        got = seeded.record_upstream_job(r.run_id, 1, "job-8f2e", now=T0 + timedelta(seconds=2))
        assert seeded.get_run(r.run_id) == got and got.upstream_job_id == "job-8f2e"
        done = seeded.succeed(r.run_id, 1, now=T0 + timedelta(minutes=3), size=52_428_800, sha256="cd" * 32,
                              upstream_job_id="job-8f2e", details={"download_s": 12.5, "steps": [0, 24]})
        got = seeded.get_run(r.run_id)
        assert got == done
        assert got.status is RunStatus.SUCCEEDED and got.raw_size == 52_428_800
        assert got.finished_at == T0 + timedelta(minutes=3) and got.finished_at.tzinfo is not None
        assert got.details == {"download_s": 12.5, "steps": [0, 24]}
        assert got.lease(AttemptKind.INGEST).outcome == "succeeded"
        assert got.transform_status is TransformStatus.NONE

    def test_failed_run_round_trips(self, seeded):
        r = run()
        claim(seeded, r)
        seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0)
        got = seeded.fail(r.run_id, 1, now=T0 + timedelta(seconds=9), reason="upstream_refused: too large")
        assert seeded.get_run(r.run_id) == got
        assert got.failure_reason == "upstream_refused: too large" and got.upstream_job_id == "job-1"
        assert got.status is RunStatus.FAILED

    def test_quarantined_run_round_trips(self, seeded):
        r = run()
        claim(seeded, r)
        got = seeded.quarantine(r.run_id, 1, now=T0, reason="holds ozone, asked for no2", size=10,
                                sha256="ab" * 32, details={"acceptance": {"missing": ["no2"], "extra": ["o3"]}})
        assert seeded.get_run(r.run_id) == got and got.status is RunStatus.QUARANTINED and got.raw_size == 10
        assert got.details == {"acceptance": {"missing": ["no2"], "extra": ["o3"]}}
        with pytest.raises(Conflict):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL)

    def test_run_for_unregistered_dataset_not_found(self, catalog):
        with pytest.raises(NotFound):
            claim(catalog, run())

    def test_reused_run_id_conflicts(self, seeded):
        r = run()
        claim(seeded, r)
        with pytest.raises(Conflict):
            claim(seeded, run(offset_ms=5, day=date(2025, 3, 2), run_id=r.run_id))

    def test_reused_raw_key_conflicts(self, seeded):
        r = run()
        claim(seeded, r)
        other = run(offset_ms=5)
        # The domain refuses such a run; the catalog's unique constraint is the second line of defence.
        object.__setattr__(other, "raw_key", r.raw_key)
        with pytest.raises((Conflict, InvalidInput)):
            claim(seeded, other)
        assert [x.run_id for x in seeded.list_runs()] == [r.run_id]

    def test_unknown_run_not_found_malformed_id_invalid(self, seeded):
        unknown = new_uuid7(MS0, os.urandom(10))
        for call in (lambda i: seeded.get_run(i), lambda i: seeded.fail(i, 1, now=T0, reason="x"),
                     lambda i: seeded.renew(i, AttemptKind.INGEST, 1, now=T0, expires_at=T0 + TTL),
                     lambda i: seeded.claim_transform(i, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL),
                     lambda i: seeded.publish(i, 1, [], [], now=T0)):
            with pytest.raises(NotFound):
                call(unknown)
            with pytest.raises(InvalidInput):
                call("not-a-run-id")

    def test_stored_run_is_a_copy(self, seeded):
        r = run()
        claim(seeded, r)
        r.request["variable"].append("dust")
        seeded.get_run(r.run_id).request["variable"].append("ammonia")
        assert seeded.get_run(r.run_id).request["variable"] == ["nitrogen_dioxide", "ozone"]

    def test_list_runs_newest_first_and_filters(self, seeded):
        seeded.add_dataset(dataset("cams-europe-air-quality-reanalyses"))
        a, b = run(offset_ms=1000), run(offset_ms=3000)
        c = run(offset_ms=2000, name="cams-europe-air-quality-reanalyses")
        tie = sorted([run(offset_ms=0), run(offset_ms=0)], key=lambda x: x.run_id)  # same created_at
        for x in (a, b, c, *tie):
            claim(seeded, x)
        seeded.fail(a.run_id, 1, now=T0, reason="x")
        ids = [x.run_id for x in seeded.list_runs()]
        assert ids == [b.run_id, c.run_id, a.run_id, tie[1].run_id, tie[0].run_id]
        assert [x.run_id for x in seeded.list_runs(dataset=DATASET, limit=2)] == [b.run_id, a.run_id]
        assert [x.run_id for x in seeded.list_runs(status=RunStatus.FAILED)] == [a.run_id]
        assert [x.run_id for x in seeded.list_runs("cams-europe-air-quality-reanalyses")] == [c.run_id]
        assert seeded.list_runs(limit=0) == [] and seeded.list_runs(dataset="nope") == []
        assert len(seeded.list_runs(limit=None)) == 5
        for bad in (-1, 1 << 70, True):
            with pytest.raises(InvalidInput):
                seeded.list_runs(limit=bad)

    def test_unstorable_values_refused_alike(self, seeded):
        r = run()
        with pytest.raises(InvalidInput, match="JSON"):
            claim(seeded, replace(r, request={"date": date(2025, 3, 1)}))
        landed(seeded, r)
        t = seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL)
        with pytest.raises(InvalidInput, match="64 bits"):
            seeded.publish(r.run_id, 1, [replace(tile(r), size=1 << 64)], [], now=T0)
        assert seeded.list_runs() == [t] and seeded.tiles_of_run(r.run_id) == []

    def test_text_fields_round_trip_verbatim(self, catalog):
        """SQL metacharacters, placeholders, path traversal and non-ASCII in every free-text field are data."""
        evil = "x'); DROP TABLE tiles; -- ../../etc/passwd \\ %s %(p)s ?1 :p $1 \" ` % _ * Ω 🌍\t\n"
        d = Dataset(source=SOURCE, name="evil-dataset", request_template={evil: [evil], "data_format": evil},
                    variables=(evil, "ozone"), ext=evil, description=evil, schedule=evil)
        catalog.add_dataset(d)
        catalog.add_dataset(d)  # the identical definition again: still a no-op
        assert catalog.get_dataset("evil-dataset") == d and catalog.list_datasets() == [d]
        base = run(name="evil-dataset")
        failing = replace(base, request={**base.request, evil: evil}, orchestrator_run_id=evil)
        claim(catalog, failing, owner=evil)
        catalog.record_upstream_job(failing.run_id, 1, evil[:200], now=T0)
        failed = catalog.fail(failing.run_id, 1, now=T0, reason=evil)
        assert catalog.get_run(failing.run_id) == failed
        assert (failed.request[evil], failed.orchestrator_run_id, failed.upstream_job_id, failed.failure_reason,
                failed.attempts[0].owner) == (evil, evil, evil[:200], evil, evil)
        r = run(offset_ms=1, name="evil-dataset")
        claim(catalog, r)
        catalog.succeed(r.run_id, 1, now=T0, size=1, sha256="ab" * 32, upstream_job_id=None,
                        details={evil: [evil, {evil: evil}]})
        catalog.claim_transform(r.run_id, attempt_id=aid(), owner=evil, now=T0, expires_at=T0 + TTL)
        t = replace(tile(r, variable=evil, model=evil, key=f"tiles/{evil}/../k.zarr"), cell_id=evil, sha256=evil)
        edge = LineageEdge(evil, evil, t.key, r.run_id, transformation=evil)
        with pytest.raises(InvalidInput, match="transformation version"):
            LineageEdge(evil, evil, t.key, r.run_id, transformation_version=evil)
        done = catalog.publish(r.run_id, 1, [t], [edge], now=T0)
        got = catalog.get_run(r.run_id)
        assert got == done and got.details == {evil: [evil, {evil: evil}]} and got.lease(AttemptKind.TRANSFORM).owner == evil
        assert catalog.tiles_of_run(r.run_id) == [t]
        assert catalog.find_tiles(WORLD, ALL_TIME, [evil], dataset="evil-dataset", model=evil) == [t]
        assert catalog.find_tiles(WORLD, ALL_TIME, [evil + "x"]) == []
        assert catalog.lineage(raw_key=evil) == [edge] and catalog.lineage(tile_key=t.key) == [edge]
        assert catalog.lineage(raw_key="%") == [] and catalog.lineage(tile_key="_") == []

    def test_two_tiles_in_one_slot_conflict(self, seeded):
        """A run has one tile per (model, variable, level, reference time, cell): a re-run cannot add another."""
        r = run()
        transforming(seeded, r)
        twins = [tile(r), tile(r, key=tile(r).key + "-again")]
        with pytest.raises(Conflict, match="same slot"):
            seeded.publish(r.run_id, 1, twins, edges(r, twins), now=T0)
        self._assert_nothing_of(seeded, r)

    def test_concurrent_claims_of_distinct_partitions(self, seeded):
        runs = [run(offset_ms=i) for i in range(40)]
        threads = [threading.Thread(target=lambda part: [claim(seeded, x) for x in part], args=(runs[i::4],))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert {x.run_id for x in seeded.list_runs(limit=100)} == {x.run_id for x in runs}

    # -- claims, fencing, take-over (docs/runs.md) --------------------------------------------------------------
    def test_second_claim_of_a_live_partition_conflicts_naming_the_holder(self, seeded):
        first = claim(seeded, run(partition="p"), owner="host-a:1")
        second = run(offset_ms=10, partition="p")
        with pytest.raises(Conflict, match=first.run_id) as info:
            claim(seeded, second, now=T0 + TTL / 2, owner="host-b:2")
        assert "host-a:1" in str(info.value)
        assert [x.run_id for x in seeded.list_runs()] == [first.run_id]  # the loser wrote nothing

    def test_same_partition_means_same_canonical_request(self, seeded):
        a = run(partition="p")
        claim(seeded, a)
        shuffled = run(offset_ms=1, partition="p")
        shuffled.request["variable"].reverse()  # list order does not make another partition
        object.__setattr__(shuffled, "request", dict(shuffled.request))
        with pytest.raises(Conflict):
            claim(seeded, shuffled)
        claim(seeded, run(offset_ms=2, partition="q"))  # another request is another partition

    def test_succeeded_partition_conflicts_unless_superseded(self, seeded):
        old = landed(seeded, run(partition="p"))
        with pytest.raises(Conflict, match=old.run_id):
            claim(seeded, run(offset_ms=10, partition="p"), now=T0 + timedelta(hours=1))
        new = claim(seeded, run(offset_ms=20, partition="p"), now=T0 + timedelta(hours=1), supersede=True)
        assert new.supersedes == old.run_id and new.run_id != old.run_id
        assert seeded.get_run(old.run_id) == old  # the old one stays in history, untouched

    def test_failed_partition_can_be_ingested_again(self, seeded):
        a = claim(seeded, run(partition="p"))
        seeded.fail(a.run_id, 1, now=T0, reason="x")
        b = claim(seeded, run(offset_ms=1, partition="p"), now=T0 + timedelta(seconds=1))
        assert b.run_id != a.run_id and b.supersedes is None

    def test_expired_claim_is_taken_over_with_the_next_epoch(self, seeded):
        first = claim(seeded, run(partition="p"), owner="dead:1")
        seeded.record_upstream_job(first.run_id, 1, "job-42", now=T0)
        later = T0 + TTL + timedelta(seconds=1)
        taken = claim(seeded, run(offset_ms=5000, partition="p"), now=later, owner="alive:2", attempt_id=aid())
        assert taken.run_id == first.run_id and taken.raw_key == first.raw_key
        assert taken.upstream_job_id == "job-42"  # handed to the ingester to resume, not resubmitted
        lease = taken.lease(AttemptKind.INGEST)
        assert (lease.epoch, lease.owner) == (2, "alive:2")
        assert taken.attempts[0].ended_at == later and "taken over" in taken.attempts[0].outcome
        assert [x.run_id for x in seeded.list_runs()] == [first.run_id]
        # the old holder is fenced off: every write with epoch 1 is refused, nothing changes
        for write in (lambda: seeded.succeed(first.run_id, 1, now=later, size=1, sha256="ab" * 32,
                                             upstream_job_id="job-42"),
                      lambda: seeded.fail(first.run_id, 1, now=later, reason="x"),
                      lambda: seeded.record_upstream_job(first.run_id, 1, "job-42", now=later),
                      lambda: seeded.renew(first.run_id, AttemptKind.INGEST, 1, now=later,
                                           expires_at=later + TTL)):
            with pytest.raises(Conflict, match="fenced"):
                write()
        assert seeded.get_run(first.run_id) == taken
        done = seeded.succeed(first.run_id, 2, now=later, size=1, sha256="ab" * 32, upstream_job_id="job-42")
        assert done.status is RunStatus.SUCCEEDED

    def test_heartbeat_keeps_a_slow_holder(self, seeded):
        r = claim(seeded, run(partition="p"))
        now = T0
        for _ in range(5):  # renewed before each expiry: never taken over, however long it runs
            now += TTL * 0.8
            seeded.renew(r.run_id, AttemptKind.INGEST, 1, now=now, expires_at=now + TTL)
            with pytest.raises(Conflict, match="being ingested"):
                claim(seeded, run(offset_ms=1, partition="p"), now=now + TTL * 0.5)
        assert seeded.get_run(r.run_id).lease(AttemptKind.INGEST).expires_at == now + TTL

    def test_release_lets_the_next_claim_take_over_at_once(self, seeded):
        r = claim(seeded, run(partition="p"))
        seeded.renew(r.run_id, AttemptKind.INGEST, 1, now=T0 + timedelta(seconds=1),
                     expires_at=T0 + timedelta(seconds=1))
        taken = claim(seeded, run(offset_ms=1, partition="p"), now=T0 + timedelta(seconds=1))
        assert taken.run_id == r.run_id and taken.lease(AttemptKind.INGEST).epoch == 2

    def test_lease_must_expire_after_it_starts(self, seeded):
        with pytest.raises(InvalidInput):
            claim(seeded, run(), ttl=timedelta(0))
        assert seeded.list_runs() == []

    def test_transform_claim_fencing_and_take_over(self, seeded):
        r = landed(seeded, run())
        t = seeded.claim_transform(r.run_id, attempt_id=aid(), owner="a:1", now=T0, expires_at=T0 + TTL)
        assert t.transform_status is TransformStatus.TRANSFORMING and t.lease(AttemptKind.TRANSFORM).epoch == 1
        with pytest.raises(Conflict, match="a:1"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="b:2", now=T0 + TTL / 2,
                                   expires_at=T0 + TTL * 2)
        later = T0 + TTL * 2
        t2 = seeded.claim_transform(r.run_id, attempt_id=aid(), owner="b:2", now=later, expires_at=later + TTL)
        assert t2.lease(AttemptKind.TRANSFORM).epoch == 2
        tiles = [tile(r)]
        with pytest.raises(Conflict, match="fenced"):  # the first holder lost its lease: it cannot publish
            seeded.publish(r.run_id, 1, tiles, edges(r, tiles), now=later)
        assert seeded.tiles_of_run(r.run_id) == []
        done = seeded.publish(r.run_id, 2, tiles, edges(r, tiles), now=later)
        assert done.transform_status is TransformStatus.PUBLISHED and seeded.tiles_of_run(r.run_id) == tiles
        with pytest.raises(Conflict, match="already transformed"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="c", now=later, expires_at=later + TTL)

    def test_only_succeeded_runs_are_transformed(self, seeded):
        r = claim(seeded, run())
        with pytest.raises(Conflict, match="running"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL)

    def test_refused_transform_round_trips(self, seeded):
        r = landed(seeded, run())
        seeded.claim_transform(r.run_id, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL)
        got = seeded.refuse_transform(r.run_id, 1, now=T0, reason="message 3: unknown parameter 210.0")
        assert seeded.get_run(r.run_id) == got
        assert got.transform_status is TransformStatus.REFUSED and "unknown parameter" in got.transform_reason
        with pytest.raises(Conflict, match="refused"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL)

    # -- immutability: the state machine and recorded facts ----------------------------------------------------
    def test_terminal_runs_do_not_move(self, seeded):
        ok = landed(seeded, run(partition="a"))
        bad = claim(seeded, run(offset_ms=1, partition="b"))
        seeded.fail(bad.run_id, 1, now=T0, reason="x")
        for r in (ok, bad):
            stored = seeded.get_run(r.run_id)
            for write in (lambda: seeded.fail(r.run_id, 1, now=T0, reason="y"),
                          lambda: seeded.succeed(r.run_id, 1, now=T0, size=2, sha256="ef" * 32,
                                                 upstream_job_id=None),
                          lambda: seeded.quarantine(r.run_id, 1, now=T0, reason="z"),
                          lambda: seeded.renew(r.run_id, AttemptKind.INGEST, 1, now=T0, expires_at=T0 + TTL)):
                with pytest.raises(Conflict):
                    write()
            assert seeded.get_run(r.run_id) == stored

    def test_recorded_job_id_cannot_change(self, seeded):
        r = claim(seeded, run())
        seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0)
        seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0)  # the same id again is fine
        with pytest.raises(Conflict):
            seeded.record_upstream_job(r.run_id, 1, "job-2", now=T0)
        with pytest.raises(Conflict):
            seeded.succeed(r.run_id, 1, now=T0, size=1, sha256="ab" * 32, upstream_job_id="job-2")
        assert seeded.get_run(r.run_id).upstream_job_id == "job-1"

    def test_bad_recorded_values_refused(self, seeded):
        r = claim(seeded, run())
        for size, sha in ((-1, "ab" * 32), (1, "AB" * 32), (1, "ab" * 31), (1, None)):
            with pytest.raises(InvalidInput):
                seeded.succeed(r.run_id, 1, now=T0, size=size, sha256=sha, upstream_job_id=None)
        for epoch in (0, -1, True, "1"):
            with pytest.raises(InvalidInput):
                seeded.fail(r.run_id, epoch, now=T0, reason="x")
        assert seeded.get_run(r.run_id).status is RunStatus.RUNNING

    # -- reap and revoke -----------------------------------------------------------------------------------------
    def test_reap_fails_runs_whose_claim_expired_long_ago_and_deletes_nothing(self, seeded):
        stale = claim(seeded, run(partition="a"), owner="dead:1")
        fresh = claim(seeded, run(offset_ms=1, partition="b"), now=T0 + timedelta(minutes=50))
        done = landed(seeded, run(offset_ms=2, partition="c"))
        now = T0 + timedelta(hours=1)
        assert seeded.reap(timedelta(hours=2), now=now) == []
        reaped = seeded.reap(timedelta(minutes=30), now=now)
        assert [r.run_id for r in reaped] == [stale.run_id]
        got = seeded.get_run(stale.run_id)
        assert got.status is RunStatus.FAILED and "reaped" in got.failure_reason and "dead:1" in got.failure_reason
        assert seeded.get_run(fresh.run_id).status is RunStatus.RUNNING
        assert seeded.get_run(done.run_id) == done
        with pytest.raises(Conflict):  # a reaped run cannot be taken over or finished
            seeded.succeed(stale.run_id, 1, now=now, size=1, sha256="ab" * 32, upstream_job_id=None)
        again = claim(seeded, run(offset_ms=3, partition="a"), now=now)
        assert again.run_id != stale.run_id  # its partition is free for a new run
        with pytest.raises(InvalidInput):
            seeded.reap(timedelta(seconds=-1), now=now)

    def test_revoke_ends_expired_attempts_and_fences_them(self, seeded):
        a = claim(seeded, run(partition="a"))
        b = landed(seeded, run(offset_ms=1, partition="b"))
        seeded.claim_transform(b.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL)
        live = claim(seeded, run(offset_ms=2, partition="c"), now=T0 + TTL)
        now = T0 + TTL + timedelta(seconds=1)
        changed = seeded.revoke_expired(now=now)
        assert sorted(r.run_id for r in changed) == sorted([a.run_id, b.run_id])
        assert seeded.get_run(a.run_id).lease(AttemptKind.INGEST).outcome == "expired"
        assert seeded.get_run(b.run_id).lease(AttemptKind.TRANSFORM).outcome == "expired"
        assert seeded.get_run(live.run_id).lease(AttemptKind.INGEST).live(now)
        with pytest.raises(Conflict):
            seeded.renew(a.run_id, AttemptKind.INGEST, 1, now=now, expires_at=now + TTL)
        assert seeded.revoke_expired(now=now) == []  # idempotent
        # a revoked claim is still taken over by the next claimant
        assert claim(seeded, run(offset_ms=9, partition="a"), now=now).run_id == a.run_id

    def test_revoke_fails_an_abandoned_transform_which_is_claimed_again_at_once(self, seeded):
        """Issue 17 finding 3: a transform whose holder vanished is not left transforming: gc's revoke ends its
        attempt and the transformation is failed (with the holder named); the next transform claims it (epoch 2)."""
        b = landed(seeded, run(partition="b"))
        seeded.claim_transform(b.run_id, attempt_id=aid(), owner="gone:7", now=T0, expires_at=T0 + TTL)
        now = T0 + TTL + timedelta(seconds=1)
        (changed,) = seeded.revoke_expired(now=now)
        assert changed.transform_status is TransformStatus.FAILED and "gone:7" in changed.transform_reason
        assert seeded.get_run(b.run_id) == changed
        again = seeded.claim_transform(b.run_id, attempt_id=aid(), owner="next", now=now, expires_at=now + TTL)
        assert again.transform_status is TransformStatus.TRANSFORMING and again.lease(AttemptKind.TRANSFORM).epoch == 2

    def test_a_failed_transform_ends_its_attempt_with_the_reason_and_is_claimed_again(self, seeded):
        r = landed(seeded, run())
        seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL)
        failed = seeded.fail_transform(r.run_id, 1, now=T0, reason="IntegrityError: raw sha256 differs")
        assert failed.transform_status is TransformStatus.FAILED and "sha256" in failed.transform_reason
        assert failed.lease(AttemptKind.TRANSFORM).outcome.startswith("failed: IntegrityError")
        assert seeded.get_run(r.run_id) == failed
        with pytest.raises(Conflict):  # its attempt is over: fenced off
            seeded.fail_transform(r.run_id, 1, now=T0, reason="again")
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, [], [], now=T0)
        # claimed again under the same version at once (no lease to wait out), then published
        again = seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t2", now=T0, expires_at=T0 + TTL)
        assert again.lease(AttemptKind.TRANSFORM).epoch == 2 and again.transform_version == failed.transform_version
        t = tile(r)
        assert seeded.publish(r.run_id, 2, [t], edges(r, [t]), now=T0).transform_status is TransformStatus.PUBLISHED

    def test_a_failed_re_derivation_keeps_the_published_tiles_current(self, seeded):
        r = run()
        old = self.published(seeded, r, [tile(r)])
        seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL, version="9")
        seeded.fail_transform(r.run_id, 2, now=T0, reason="BackendUnavailable: curated store down")
        assert seeded.find_tiles(WORLD, ALL_TIME) == old
        with pytest.raises(Conflict, match="version 9"):  # never back to an older version
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL, version="8")
        assert seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL,
                                      version="9").transform_version == "9"

    def test_a_failed_run_with_a_held_job_is_reopened_to_resume_it(self, seeded):
        """Issue 17 finding 2: the partition's newest run failed with an upstream job the upstream still holds: the
        next ingest re-opens it (same run id and raw key, next epoch, the job kept) instead of a new run."""
        r = claim(seeded, run(partition="p"))
        seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0)
        failed = seeded.fail(r.run_id, 1, now=T0, reason="BackendUnavailable: raw store down")
        assert failed.lease(AttemptKind.INGEST).outcome == "failed: BackendUnavailable: raw store down"
        assert seeded.partition_runs(failed.partition) == [failed]
        later = T0 + timedelta(minutes=5)
        reopened = seeded.claim_ingest(run(offset_ms=1, partition="p"), attempt_id=aid(), owner="o", now=later,
                                       expires_at=later + TTL, resume=r.run_id)
        assert (reopened.run_id, reopened.raw_key, reopened.upstream_job_id) == (r.run_id, r.raw_key, "job-1")
        assert reopened.status is RunStatus.RUNNING and reopened.failure_reason is None
        assert reopened.lease(AttemptKind.INGEST).epoch == 2 and seeded.get_run(r.run_id) == reopened
        assert seeded.partition_runs(failed.partition) == [reopened]
        done = seeded.succeed(r.run_id, 2, now=later, size=1, sha256="ab" * 32, upstream_job_id="job-1")
        assert done.status is RunStatus.SUCCEEDED and done.upstream_job_id == "job-1"
        with pytest.raises(Conflict, match="can no longer be resumed"):  # not failed any more
            seeded.claim_ingest(run(offset_ms=2, partition="p"), attempt_id=aid(), owner="o", now=later,
                                expires_at=later + TTL, resume=r.run_id)

    def test_only_the_newest_failed_run_with_a_job_is_reopened(self, seeded):
        nojob = claim(seeded, run(partition="q"))
        seeded.fail(nojob.run_id, 1, now=T0, reason="UpstreamRefused: licence")
        with pytest.raises(Conflict, match="can no longer be resumed"):  # no job to resume
            seeded.claim_ingest(run(offset_ms=1, partition="q"), attempt_id=aid(), owner="o", now=T0,
                                expires_at=T0 + TTL, resume=nojob.run_id)
        older = claim(seeded, run(offset_ms=2, partition="s"))
        seeded.record_upstream_job(older.run_id, 1, "job-old", now=T0)
        seeded.fail(older.run_id, 1, now=T0, reason="x")
        newer = claim(seeded, run(offset_ms=3, partition="s"))
        seeded.fail(newer.run_id, 1, now=T0, reason="y")
        with pytest.raises(Conflict, match="can no longer be resumed"):  # a newer run came after it
            seeded.claim_ingest(run(offset_ms=4, partition="s"), attempt_id=aid(), owner="o", now=T0,
                                expires_at=T0 + TTL, resume=older.run_id)
        with pytest.raises(InvalidInput):
            seeded.partition_runs("not-a-digest")

    # -- publish ----------------------------------------------------------------------------------------------
    def test_publish_round_trip(self, seeded):
        r = run()
        tiles = [tile(r, west=10), tile(r, west=0, variable="ozone"), tile(r, west=0)]
        self.published(seeded, r, tiles)
        got = seeded.tiles_of_run(r.run_id)
        assert got == [tiles[2], tiles[0], tiles[1]]  # (variable, ..., cell) order
        assert got[0].bbox == BBox(0, 40, 10, 50) and got[0].shape == (25, 100, 100)
        assert got[0].valid_end == T0 + timedelta(hours=24)
        assert seeded.lineage(raw_key=r.raw_key) == sorted(edges(r, tiles), key=lambda e: e.tile_key)

    def test_tiles_of_unpublished_run_is_empty(self, seeded):
        r = run()
        transforming(seeded, r)
        assert seeded.tiles_of_run(r.run_id) == []

    def test_publish_unknown_run_not_found(self, seeded):
        r = run()
        with pytest.raises(NotFound):
            seeded.publish(r.run_id, 1, [tile(r)], edges(r, [tile(r)]), now=T0)

    def test_publish_twice_conflicts(self, seeded):
        r = run()
        first = self.published(seeded, r, [tile(r)])
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, [tile(r, west=10)], [], now=T0)
        assert seeded.tiles_of_run(r.run_id) == first

    def _assert_nothing_of(self, c, r: IngestionRun) -> None:
        assert c.tiles_of_run(r.run_id) == []
        assert c.lineage(raw_key=r.raw_key) == []
        assert c.find_tiles(WORLD, ALL_TIME) == []

    def test_tile_of_another_run_conflicts(self, seeded):
        r, other = run(), run(offset_ms=1)
        transforming(seeded, r)
        bad = [tile(r), tile(other, west=10)]
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, bad, edges(r, bad[:1]), now=T0)
        self._assert_nothing_of(seeded, r)

    def test_duplicate_tile_key_in_batch_conflicts(self, seeded):
        r = run()
        transforming(seeded, r)
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, [tile(r), tile(r, west=10), tile(r)], [], now=T0)
        self._assert_nothing_of(seeded, r)

    def test_failure_mid_publish_leaves_nothing(self, seeded):
        first = run()
        taken = self.published(seeded, first, [tile(first, west=20)])[0]
        r = run(offset_ms=1)
        transforming(seeded, r)
        # the third tile reuses a published key: the store only finds out after writing two tiles
        batch = [tile(r, west=0), tile(r, west=10), tile(r, west=20, key=taken.key), tile(r, west=30)]
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, batch, edges(r, batch), now=T0)
        assert seeded.tiles_of_run(r.run_id) == [] and seeded.lineage(raw_key=r.raw_key) == []
        assert seeded.find_tiles(WORLD, ALL_TIME) == [taken]
        fixed = [t for t in batch if t.key != taken.key]
        seeded.publish(r.run_id, 1, fixed, edges(r, fixed), now=T0)  # nothing half-written blocks the retry
        assert seeded.tiles_of_run(r.run_id) == fixed

    def test_lineage_generator_failing_leaves_nothing(self, seeded):
        r = run()
        transforming(seeded, r)
        tiles = [tile(r), tile(r, west=10)]

        def lineage():
            yield edges(r, tiles)[0]
            raise InvalidInput("decoder gave up")

        with pytest.raises(InvalidInput):
            seeded.publish(r.run_id, 1, tiles, lineage(), now=T0)
        self._assert_nothing_of(seeded, r)

    def test_lineage_to_foreign_tile_conflicts(self, seeded):
        r = run()
        transforming(seeded, r)
        tiles = [tile(r)]
        stray = LineageEdge(r.raw_key, "ab" * 32, tile(r, west=10).key, r.run_id)
        with pytest.raises(Conflict):
            seeded.publish(r.run_id, 1, tiles, edges(r, tiles) + [stray], now=T0)
        self._assert_nothing_of(seeded, r)

    # -- lineage ----------------------------------------------------------------------------------------------
    def test_lineage_by_raw_key_and_tile_key(self, seeded):
        a, b = run(), run(offset_ms=1, day=date(2025, 3, 2))
        ta = self.published(seeded, a, [tile(a, west=10), tile(a, west=0)])
        tb = self.published(seeded, b, [tile(b, ref_h=24)])
        assert [e.tile_key for e in seeded.lineage(raw_key=a.raw_key)] == sorted(t.key for t in ta)
        assert seeded.lineage(tile_key=tb[0].key) == [LineageEdge(b.raw_key, "ab" * 32, tb[0].key, b.run_id)]
        assert seeded.lineage(tile_key=tb[0].key)[0].transformation == "jackfruit.grib-to-zarr-tiles"
        assert seeded.lineage(raw_key=a.raw_key, tile_key=tb[0].key) == []
        assert seeded.lineage(raw_key=str(RawKey(SOURCE, DATASET, date(2025, 1, 1), a.run_id, "grib"))) == []

    # -- find_tiles -------------------------------------------------------------------------------------------
    @pytest.fixture
    def cells(self, seeded):
        r = run()
        # a 3x3 block of cells: west 0..20, south 30..50; cell n40e010 is the middle one
        return {t.cell_id: t for t in self.published(
            seeded, r, [tile(r, west=w, south=s, first_h=6, last_h=30) for w in (0, 10, 20) for s in (30, 40, 50)])}

    def _ids(self, c, box: BBox, tr: TimeRange = ALL_TIME) -> list[str]:
        return sorted(t.cell_id for t in c.find_tiles(box, tr))

    @pytest.mark.parametrize("box, expected", [
        # extents are closed (BBox.intersects): a box touching an extent's edge finds the tile
        (BBox(12, 42, 15, 45), ["n40e010"]),
        (BBox(20, 42, 25, 45), ["n40e010", "n40e020"]),  # touches n40e010 at its east edge
        (BBox(12, 50, 15, 55), ["n40e010", "n50e010"]),  # touches n40e010 at its north edge
        (BBox(5, 42, 10, 45), ["n40e000", "n40e010"]),  # touches n40e010 at its west edge
        (BBox(12, 35, 15, 40), ["n30e010", "n40e010"]),  # touches n40e010 at its south edge
        (BBox(10, 40, 10, 40), ["n30e000", "n30e010", "n40e000", "n40e010"]),  # a point on four corners
        (BBox(20, 50, 20, 50), ["n40e010", "n40e020", "n50e010", "n50e020"]),
        (BBox(15, 45, 15, 45), ["n40e010"]),
        (BBox(5, 30, 5, 60), ["n30e000", "n40e000", "n50e000"]),  # a zero-width line
        (BBox(0, 40, 9.999999999, 45), ["n30e000", "n40e000"]),  # float32 rounds 9.999999999 up to 10
        (BBox(19.999999999, 40, 19.999999999, 40), ["n30e010", "n40e010"]),
        (BBox(30, 60, 40, 70), ["n50e020"]),  # one corner
        (BBox(30.000001, 60, 40, 70), []),
    ])
    def test_bbox_edges(self, seeded, cells, box, expected):
        assert self._ids(seeded, box) == expected

    # -- boxes across the antimeridian (west > east): searched as BBox.search_parts, each tile once ------------
    @pytest.fixture
    def meridian(self, seeded):
        r = run()
        east_side, west_side, middle = (tile(r, west=w, south=40, first_h=6, last_h=30) for w in (170, -180, 0))
        band = replace(tile(r, west=-10, south=0, first_h=6, last_h=30), cell_id="global",  # a global grid's
                       bbox=BBox(-180, -90, 180, 90))  # extent (tiling.grid_extent) touches both parts
        near = tile(r, west=150, south=40, first_h=6, last_h=30)  # 150..160
        return {t.cell_id: t for t in self.published(seeded, r, [east_side, west_side, middle, band, near])}

    @pytest.mark.parametrize("box, expected", [
        (BBox(175, 42, -175, 45), ["global", "n40e170", "n40w180"]),  # both sides, not the middle, each once
        (BBox(165, 42, -165, 45), ["global", "n40e170", "n40w180"]),
        (BBox(155, 42, -175, 45), ["global", "n40e150", "n40e170", "n40w180"]),
        (BBox(175, 42, 180, 45), ["global", "n40e170", "n40w180"]),  # 180 is -180: touches n40w180
        (BBox(-180, 42, -175, 45), ["global", "n40e170", "n40w180"]),
        (BBox(-180, 42, -180, 42), ["global", "n40e170", "n40w180"]),  # a point on the meridian
        (BBox(172, 42, 178, 45), ["global", "n40e170"]),
        (BBox(175, -5, -175, -1), ["global"]),
        (BBox(175, 60, -175, 70), ["global"]),  # crossing, north of everything but the band
        (BBox(-169.999999, 42, 169.999999, 45), ["global", "n40e000", "n40e150"]),  # nearly round, not crossing
        (BBox(170.000001, 42, -170.000001, 45), ["global", "n40e170", "n40w180"]),  # a hair inside: float32
        (BBox(-170.000001, 42, 169.999999, 45), ["global", "n40e000", "n40e150", "n40w180"]),
        (BBox(0.5, 42, 0, 45), ["global", "n40e000", "n40e150", "n40e170", "n40w180"]),  # all but 0..0.5 (none)
    ])
    def test_a_box_across_the_antimeridian(self, seeded, meridian, box, expected):
        found = seeded.find_tiles(box, ALL_TIME)
        assert sorted(t.cell_id for t in found) == expected
        assert len({t.key for t in found}) == len(found)  # a tile meeting both parts is listed once
        assert found == sorted(found, key=lambda t: (t.variable, t.model, t.level_m, t.reference_time,
                                                     t.cell_id, t.key))
        assert all(t.selected_by(box, ALL_TIME) for t in found)  # the domain's rule, as memory applies it

    def test_a_crossing_box_with_filters_history_and_as_of(self, seeded, meridian):
        box = BBox(175, 42, -175, 45)
        assert seeded.find_tiles(box, ALL_TIME, ["ozone"]) == []
        assert [t.cell_id for t in seeded.find_tiles(box, day_range(31, 40))] == []
        got = seeded.find_tiles(box, ALL_TIME, ["nitrogen_dioxide"], dataset=DATASET, model="ensemble", level_m=0,
                                as_of=T0, history=True)
        assert sorted(t.cell_id for t in got) == ["global", "n40e170", "n40w180"]
        assert seeded.find_tiles(box, ALL_TIME, as_of=T0 - timedelta(seconds=1)) == []

    @pytest.mark.parametrize("start, end, hit", [
        (0, 6, False),  # ends exactly at valid_start: half-open query excludes it
        (0, 6 + 1 / 3.6e9, True),  # one microsecond later
        (30, 31, True),  # starts exactly at valid_end: the tile's span is closed
        (30 + 1 / 3.6e9, 31, False),
        (10, 11, True), (-100, 200, True), (31, 40, False),
    ])
    def test_time_edges(self, seeded, cells, start, end, hit):
        assert self._ids(seeded, BBox(15, 45, 15, 45), day_range(start, end)) == (["n40e010"] if hit else [])

    def test_filters_and_order(self, seeded):
        seeded.add_dataset(dataset("cams-europe-air-quality-reanalyses"))
        r, other = run(), run(offset_ms=1, name="cams-europe-air-quality-reanalyses")
        tiles = [tile(r, variable=v, model=m, level_m=lv, ref_h=h, west=w)
                 for v in ("ozone", "nitrogen_dioxide") for m in ("ensemble", "chimere")
                 for lv in (50, 0) for h in (24, 0) for w in (10, 0)]
        self.published(seeded, r, tiles)
        self.published(seeded, other, [tile(other, variable="ozone")])
        found = seeded.find_tiles(WORLD, ALL_TIME)
        assert len(found) == 33
        assert found == sorted(found, key=lambda t: (t.variable, t.model, t.level_m, t.reference_time,
                                                     t.cell_id, t.key))
        assert (found[0].variable, found[0].model, found[0].level_m, found[0].cell_id) == \
            ("nitrogen_dioxide", "chimere", 0, "n40e000")
        f = seeded.find_tiles(WORLD, ALL_TIME, ["ozone"], dataset=DATASET, model="ensemble", level_m=50)
        assert [(t.reference_time, t.cell_id) for t in f] == [
            (T0, "n40e000"), (T0, "n40e010"), (T0 + timedelta(hours=24), "n40e000"),
            (T0 + timedelta(hours=24), "n40e010")]
        assert {t.dataset for t in seeded.find_tiles(WORLD, ALL_TIME, ["ozone"])} == {
            DATASET, "cams-europe-air-quality-reanalyses"}
        assert [t.run_id for t in seeded.find_tiles(WORLD, ALL_TIME, dataset="cams-europe-air-quality-reanalyses")] \
            == [other.run_id]
        assert len(seeded.find_tiles(WORLD, ALL_TIME, ["ozone", "nitrogen_dioxide"], level_m=0)) == 17
        assert seeded.find_tiles(WORLD, ALL_TIME, []) == []
        assert seeded.find_tiles(WORLD, ALL_TIME, model="emep") == []

    # The factory fixture is example-safe (each example builds a fresh catalog), and one test bound to
    # several adapter classes is the point of a contract suite: a failing example replays on all of them.
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors])
    @given(spec=st.lists(st.tuples(st.sampled_from(range(-30, 30, 10)), st.sampled_from(range(-30, 30, 10)),
                                   st.sampled_from(["ozone", "dust"]), st.integers(0, 3), st.integers(0, 4),
                                   st.integers(0, 4)), max_size=25),
           queries=st.lists(st.tuples(_COORD, _COORD, _COORD, _COORD, st.integers(-2, 9), st.integers(1, 6)),
                            min_size=1, max_size=8))
    def test_find_matches_brute_force(self, make_catalog, spec, queries):
        c = make_catalog()
        try:
            c.add_dataset(dataset())
            r = run()
            tiles = {}
            for w, s, v, ref, first, extra in spec:
                t = tile(r, west=w, south=s, variable=v, ref_h=ref, first_h=first, last_h=first + extra)
                tiles[t.key] = t
            self.published(c, r, list(tiles.values()))
            for x0, x1, y0, y1, h, length in queries:
                box, tr = BBox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), day_range(h, h + length)
                expected = sorted((t for t in tiles.values() if box.intersects(t.bbox)
                                   and tr.overlaps(t.valid_start, t.valid_end)),
                                  key=lambda t: (t.variable, t.model, t.level_m, t.reference_time, t.cell_id, t.key))
                assert c.find_tiles(box, tr) == expected
                assert c.find_tiles(box, tr, ["dust"]) == [t for t in expected if t.variable == "dust"]
        finally:
            c.close()

    # Extents and valid times a hair off whole values, and queries at a tile's edges and a hair either side:
    # where an index's candidates (float32 boxes, whole hours) and the exact rule part. find_tiles must give
    # exactly what Tile.selected_by (BBox.intersects, TimeRange.overlaps) selects, on every adapter.
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors])
    @given(spec=st.lists(st.tuples(st.sampled_from(range(-20, 20, 10)), st.sampled_from(range(-20, 20, 10)),
                                   st.sampled_from(_NUDGE), st.sampled_from(_NUDGE), st.integers(0, 3),
                                   st.sampled_from(_MICROS), st.sampled_from(_MICROS)), min_size=1, max_size=12),
           queries=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(("west", "east", "south", "north")),
                                      st.sampled_from(_NUDGE), st.sampled_from(("start", "end")),
                                      st.sampled_from(_MICROS)), min_size=1, max_size=8))
    def test_find_is_the_domain_rule_at_the_edges(self, make_catalog, spec, queries):
        c = make_catalog()
        try:
            c.add_dataset(dataset())
            r = run()
            tiles: dict[str, Tile] = {}
            for w, s, dx, dy, first, us0, us1 in spec:
                base = tile(r, west=w, south=s, first_h=first, last_h=first + 2)
                t = replace(base, bbox=BBox(w + dx, s + dy, w + 10 + dx, s + 10 + dy),
                            valid_start=base.valid_start + timedelta(microseconds=us0),
                            valid_end=base.valid_end + timedelta(microseconds=us1))
                tiles[t.key] = t
            self.published(c, r, list(tiles.values()))
            listed = list(tiles.values())
            for n, side, nudge, when, us in queries:
                t = listed[n % len(listed)]
                x, y = (t.bbox.west + t.bbox.east) / 2, (t.bbox.south + t.bbox.north) / 2
                edge = {"west": (t.bbox.west - 1 + nudge, y, t.bbox.west + nudge, y),
                        "east": (t.bbox.east + nudge, y, t.bbox.east + 1 + nudge, y),
                        "south": (x, t.bbox.south - 1 + nudge, x, t.bbox.south + nudge),
                        "north": (x, t.bbox.north + nudge, x, t.bbox.north + 1 + nudge)}[side]
                box = BBox(*edge)
                at = (t.valid_end if when == "start" else t.valid_start) + timedelta(microseconds=us)
                tr = TimeRange(at, at + timedelta(hours=1)) if when == "start" else \
                    TimeRange(at - timedelta(hours=1), at)
                expected = sorted((u for u in tiles.values() if u.selected_by(box, tr)),
                                  key=lambda u: (u.variable, u.model, u.level_m, u.reference_time, u.cell_id, u.key))
                assert c.find_tiles(box, tr) == expected, (box, tr)
        finally:
            c.close()

    # -- tiles per transformation version, the currency rule (jackfruit.domain.currency), "as known at", gc marks
    @staticmethod
    def retransformed(c, r: IngestionRun, tiles: list[Tile], version: str, now: datetime) -> list[Tile]:
        """Claim ``r`` again under ``version`` and publish ``tiles`` (made for that version) at ``now``."""
        done = c.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=now, expires_at=now + TTL,
                                 version=version)
        assert done.transform_version == version and done.transform_status is TransformStatus.TRANSFORMING
        epoch = done.lease(AttemptKind.TRANSFORM).epoch
        c.publish(r.run_id, epoch, tiles, [replace(e, transformation_version=version) for e in edges(r, tiles)],
                  now=now)
        return tiles

    def test_retransform_publishes_next_to_the_old_version(self, seeded):
        r = run()
        old = self.published(seeded, r, [tile(r, west=0), tile(r, west=10)])
        assert seeded.get_run(r.run_id).transform_version == CUR
        t1 = T0 + timedelta(hours=1)
        # the next version cuts the grid differently (one cell): both old cells stop being current
        new = [replace(tile(r, west=0, key=f"tiles/v{NEXT}/a.zarr"), transformation_version=NEXT,
                       cell_id=f"grid-{NEXT}", bbox=BBox(0, 40, 20, 50))]
        self.retransformed(seeded, r, new, NEXT, t1)
        done = seeded.get_run(r.run_id)
        assert (done.transform_status, done.transform_version) == (TransformStatus.PUBLISHED, NEXT)
        assert seeded.find_tiles(WORLD, ALL_TIME) == new
        assert [t.published_at for t in seeded.find_tiles(WORLD, ALL_TIME)] == [t1]
        assert sorted(t.key for t in seeded.find_tiles(WORLD, ALL_TIME, history=True)) == sorted(
            t.key for t in old + new)
        assert seeded.find_tiles(WORLD, ALL_TIME, as_of=t1 - timedelta(microseconds=1)) == old
        assert seeded.find_tiles(WORLD, ALL_TIME, as_of=T0 - timedelta(microseconds=1)) == []
        assert sorted(t.key for t in seeded.tiles_of_run(r.run_id)) == sorted(t.key for t in old + new)
        # lineage is kept for every version
        assert {e.transformation_version for e in seeded.lineage(raw_key=r.raw_key)} == {CUR, NEXT}
        # published once per version: not again under 5, never under an older one
        for version in (NEXT, CUR, PREV):
            with pytest.raises(Conflict, match=f"already transformed under version {NEXT}"):
                seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=t1, expires_at=t1 + TTL,
                                       version=version)
        with pytest.raises(InvalidInput, match="transformation version"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=t1, expires_at=t1 + TTL,
                                   version="05")

    def test_retransform_replaces_the_runs_tiles_of_every_reference_time_of_a_field(self, seeded):
        """A new version may cut the time axis differently (version 6: one tile of a day of analyses where version
        5 kept one per analysis time): the run's old tiles of the field stop being current whatever their
        reference time; another field's and another run's stay."""
        r, other = run(), run(offset_ms=5)
        old = self.published(seeded, r, [tile(r, ref_h=h, first_h=0, last_h=0) for h in (0, 3, 6)]
                             + [tile(r, ref_h=0, first_h=0, last_h=0, variable="ozone")])
        kept = self.published(seeded, other, [tile(other, ref_h=9, first_h=0, last_h=0)])
        t1 = T0 + timedelta(hours=1)
        day = [replace(tile(r, ref_h=0, first_h=0, last_h=6, key=f"tiles/v{NEXT}/day.zarr"),
                       transformation_version=NEXT)]
        self.retransformed(seeded, r, day, NEXT, t1)
        assert sorted(t.key for t in seeded.find_tiles(WORLD, ALL_TIME)) == sorted(
            [day[0].key, old[3].key, kept[0].key])
        assert sorted(t.key for t, when in seeded.superseded_tiles(before=t1)) == sorted(t.key for t in old[:3])
        assert {when for _, when in seeded.superseded_tiles(before=t1)} == {t1}
        assert sorted(t.key for t in seeded.find_tiles(WORLD, ALL_TIME, as_of=t1 - timedelta(microseconds=1))) \
            == sorted(t.key for t in old + kept)

    def test_publish_of_another_version_than_claimed_conflicts(self, seeded):
        r = run()
        transforming(seeded, r)
        t = replace(tile(r), transformation_version=NEXT)
        with pytest.raises(Conflict, match="version"):
            seeded.publish(r.run_id, 1, [t], [replace(e, transformation_version=NEXT) for e in edges(r, [t])],
                           now=T0)
        assert seeded.tiles_of_run(r.run_id) == [] and seeded.get_run(r.run_id).transform_status is \
            TransformStatus.TRANSFORMING

    def test_refused_run_is_transformed_again_under_a_newer_version(self, seeded):
        r = run()
        transforming(seeded, r)
        seeded.refuse_transform(r.run_id, 1, now=T0, reason="holds an unknown parameter 999")
        with pytest.raises(Conflict, match="refused"):
            seeded.claim_transform(r.run_id, attempt_id=aid(), owner="t", now=T0, expires_at=T0 + TTL)
        new = [replace(tile(r), transformation_version=NEXT)]
        self.retransformed(seeded, r, new, NEXT, T0)
        assert seeded.find_tiles(WORLD, ALL_TIME) == new

    def test_newer_run_supersedes_per_slot(self, seeded):
        a, b = run(), run(offset_ms=5)
        old = self.published(seeded, a, [tile(a, west=0), tile(a, west=10), tile(a, west=0, variable="ozone")])
        transforming(seeded, b)
        t1 = T0 + timedelta(hours=1)
        newer = [tile(b, west=0)]
        seeded.publish(b.run_id, 1, newer, edges(b, newer), now=t1)
        # only the slot b fills changes hands; a's other slots stay current
        assert sorted(t.key for t in seeded.find_tiles(WORLD, ALL_TIME)) == sorted(
            [newer[0].key, old[1].key, old[2].key])
        gone = seeded.superseded_tiles(before=t1)
        assert gone == [(old[0], t1)] and seeded.superseded_tiles(before=t1 - timedelta(microseconds=1)) == []

    def test_mark_removed(self, seeded):
        a, b = run(), run(offset_ms=5)
        old = self.published(seeded, a, [tile(a)])
        transforming(seeded, b)
        t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
        seeded.publish(b.run_id, 1, [tile(b)], edges(b, [tile(b)]), now=t1)
        with pytest.raises(Conflict, match="current"):
            seeded.mark_removed([tile(b).key], now=t2)
        with pytest.raises(NotFound):
            seeded.mark_removed(["tiles/none.zarr"], now=t2)
        with pytest.raises(InvalidInput, match="before it was published"):
            seeded.mark_removed([old[0].key], now=T0 - timedelta(seconds=1))
        (marked,) = seeded.mark_removed([old[0].key], now=t2)
        assert marked == old[0] and marked.removed_at == t2
        (again,) = seeded.mark_removed([old[0].key], now=t2 + timedelta(hours=1))
        assert again.removed_at == t2  # the first removal time stays
        assert seeded.superseded_tiles(before=t2 + timedelta(days=1)) == []
        # the record stays: history and "as known at" still name it, with its removal
        assert [t.removed_at for t in seeded.find_tiles(WORLD, ALL_TIME, as_of=T0)] == [t2]
        assert len(seeded.find_tiles(WORLD, ALL_TIME, history=True)) == 2
        assert len(seeded.lineage(tile_key=old[0].key)) == 1

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors])
    @given(steps=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["a", "b"]), st.sampled_from(["ozone", "dust"]),
                                    st.integers(0, 1), st.integers(1, 3)), min_size=1, max_size=10),
           probes=st.lists(st.integers(-1, 12), min_size=1, max_size=4))
    def test_currency_agrees_with_the_domain_rule(self, make_catalog, steps, probes):
        """Random histories of three runs published and re-transformed (cells "a"/"b", two variables, two
        reference times): find_tiles (now, as of each probe hour, with history) and superseded_tiles answer
        exactly what jackfruit.domain.currency says over every tile."""
        from jackfruit.domain import currency

        c = make_catalog()
        try:
            c.add_dataset(dataset())
            rs = [run(offset_ms=i) for i in range(3)]
            version = {}
            published: list[Tile] = []
            for hour, (i, cell, variable, ref, bump) in enumerate(steps):
                r, now = rs[i], T0 + timedelta(hours=hour)
                if r.run_id not in version:
                    landed(c, r)
                    version[r.run_id] = 3
                version[r.run_id] += bump
                v = str(version[r.run_id])
                cells = {"a": ["a"], "b": ["b", "a"]}[cell]  # "b" publishes two cells, one shared with "a"
                tiles = [replace(tile(r, variable=variable, ref_h=ref, key=f"tiles/{r.run_id}/{v}/{x}{variable}{ref}"),
                                 transformation_version=v, cell_id=x) for x in cells]
                self.retransformed(c, r, tiles, v, now)
                published += [replace(t, published_at=now) for t in tiles]
            order = lambda ts: sorted(ts, key=lambda t: t.key)  # noqa: E731
            for h in [None, *probes]:
                as_of = None if h is None else T0 + timedelta(hours=h)
                assert order(c.find_tiles(WORLD, ALL_TIME, as_of=as_of)) == order(
                    currency.current_tiles(published, as_of))
                assert order(c.find_tiles(WORLD, ALL_TIME, ["dust"], as_of=as_of)) == order(
                    t for t in currency.current_tiles(published, as_of) if t.variable == "dust")
                assert order(c.find_tiles(WORLD, ALL_TIME, as_of=as_of, history=True)) == order(
                    t for t in published if as_of is None or t.published_at <= as_of)
                before = T0 + timedelta(hours=12 if h is None else h)
                expected = sorted(((t, currency.superseded_at(t, published)) for t in published
                                   if (currency.superseded_at(t, published) or before + timedelta(1)) <= before),
                                  key=lambda tw: (tw[1], tw[0].key))
                assert c.superseded_tiles(before=before) == expected
        finally:
            c.close()

    # -- upstream jobs replaced by a resubmission; the cap on ingestions in flight per source
    def test_a_resubmitted_job_replaces_the_recorded_one(self, seeded):
        r = run()
        claim(seeded, r)
        seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0)
        with pytest.raises(Conflict, match="already records upstream job job-1"):
            seeded.record_upstream_job(r.run_id, 1, "job-2", now=T0)
        with pytest.raises(Conflict, match="replaces job-0"):
            seeded.record_upstream_job(r.run_id, 1, "job-2", now=T0, replaces="job-0")
        got = seeded.record_upstream_job(r.run_id, 1, "job-2", now=T0, replaces="job-1")
        assert (got.upstream_job_id, got.replaced_upstream_jobs) == ("job-2", ("job-1",))
        assert seeded.record_upstream_job(r.run_id, 1, "job-2", now=T0) == got  # the same id again: no change
        with pytest.raises(Conflict, match="cannot come back"):
            seeded.record_upstream_job(r.run_id, 1, "job-1", now=T0, replaces="job-2")
        # a take-over sees (and resumes) the newest job; the history stays through success
        later = T0 + TTL
        taken = claim(seeded, r, now=later)
        assert taken.upstream_job_id == "job-2" and taken.lease(AttemptKind.INGEST).epoch == 2
        done = seeded.succeed(r.run_id, 2, now=later, size=1, sha256="ab" * 32, upstream_job_id="job-2")
        assert done.replaced_upstream_jobs == ("job-1",) and seeded.get_run(r.run_id) == done
        with pytest.raises(Conflict):  # a fenced-off holder cannot replace anything
            seeded.record_upstream_job(r.run_id, 1, "job-3", now=later, replaces="job-2")

    def test_cap_on_ingestions_in_flight(self, seeded):
        a, b, c = run(), run(offset_ms=1), run(offset_ms=2)
        claim(seeded, a)
        seeded.claim_ingest(b, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL, max_in_flight=2)
        with pytest.raises(BackendUnavailable, match=r"2 ingestion\(s\) from ads are in flight.*\(2\)"):
            seeded.claim_ingest(c, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL, max_in_flight=2)
        with pytest.raises(NotFound):  # refused: nothing stored
            seeded.get_run(c.run_id)
        seeded.claim_ingest(c, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL)  # no cap asked: claimed
        # a claim ends (success) or expires: room again; a take-over of an expired claim is not counted as new
        seeded.succeed(a.run_id, 1, now=T0, size=1, sha256="ab" * 32, upstream_job_id=None)
        d = run(offset_ms=3)
        with pytest.raises(BackendUnavailable):
            seeded.claim_ingest(d, attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL, max_in_flight=2)
        later = T0 + TTL
        seeded.claim_ingest(d, attempt_id=aid(), owner="o", now=later, expires_at=later + TTL, max_in_flight=2)
        taken = seeded.claim_ingest(b, attempt_id=aid(), owner="o", now=later, expires_at=later + TTL,
                                    max_in_flight=1)
        assert taken.lease(AttemptKind.INGEST).epoch == 2
        with pytest.raises(InvalidInput):
            seeded.claim_ingest(run(offset_ms=4), attempt_id=aid(), owner="o", now=T0, expires_at=T0 + TTL,
                                max_in_flight=0)
