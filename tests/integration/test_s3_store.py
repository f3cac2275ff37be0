"""S3ObjectStore against a real S3-compatible server: multipart, write-once at the server, lost replies,
errors without credentials, and the 32-process race (with its negative control)."""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import socket

import pytest

from jackfruit.adapters.storage.s3_store import MIN_PART, S3ObjectStore, client_config, make_client
from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput

from ..s3proxy import MisbehavingProxy

KEY = "ads/cams-europe-air-quality-forecasts/2025-03-12/01890c24-905b-7122-b170-b60814e6ee06.grib"


def _uploads(store: S3ObjectStore) -> list:
    return store.multipart_uploads()


def test_multipart_roundtrip_is_byte_exact_and_leaves_no_upload(s3_server, s3_buckets):
    store = S3ObjectStore(s3_server.client(), s3_buckets(), part_size=MIN_PART, concurrency=3)
    body = os.urandom(2 * MIN_PART + 12345)  # three parts, the last one short
    info = store.put("big/obj", io.BytesIO(body))
    assert (info.size, info.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert store.get("big/obj") == body
    assert store.get_range("big/obj", MIN_PART - 3, 6) == body[MIN_PART - 3:MIN_PART + 3]
    assert _uploads(store) == []


@pytest.mark.parametrize("size", [100, 2 * MIN_PART + 1], ids=["single-part", "multipart"])
def test_second_write_is_refused_by_the_server_and_the_first_is_kept(s3_server, s3_buckets, size):
    bucket = s3_buckets()
    first = S3ObjectStore(s3_server.client(), bucket, write_once=True, part_size=MIN_PART)
    first.put(KEY, b"a" * size)
    # a second writer that skips the early HEAD check (it started before the first committed): only the
    # server's If-None-Match stands between it and an overwrite
    second = S3ObjectStore(s3_server.client(), bucket, write_once=True, part_size=MIN_PART)
    second.exists = lambda key: False  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="write-once"):
        second.put(KEY, io.BytesIO(b"b" * size))
    assert first.get(KEY) == b"a" * size
    assert _uploads(first) == []  # the refused multipart upload was aborted


def test_a_tagged_write_once_bucket_cannot_be_opened_for_rewriting(s3_server, s3_buckets):
    bucket = s3_buckets()
    S3ObjectStore(s3_server.client(), bucket, write_once=True).put(KEY, b"evidence")
    with pytest.raises(InvalidInput, match="write-once"):
        S3ObjectStore(s3_server.client(), bucket, write_once=False)
    again = S3ObjectStore(s3_server.client(), bucket)
    assert again.write_once
    with pytest.raises(Conflict):
        again.delete(KEY)
    assert again.get(KEY) == b"evidence"


@pytest.mark.parametrize("size", [100, 2 * MIN_PART + 1], ids=["single-part", "multipart"])
def test_a_lost_reply_is_resolved_by_the_write_token(s3_server, s3_buckets, size):
    bucket = s3_buckets()
    with MisbehavingProxy(s3_server.endpoint, drop_put_replies=1) as proxy:
        client = make_client(proxy.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key)
        store = S3ObjectStore(client, bucket, write_once=True, part_size=MIN_PART)
        body = os.urandom(size)
        info = store.put(KEY, body)  # committed, reply dropped, retried -> 412 -> HEAD finds our token
        assert proxy.dropped, "the proxy did not drop a reply: the test proves nothing"
        assert info.sha256 == hashlib.sha256(body).hexdigest()
        assert store.get(KEY) == body
        # someone else's object at the key is still a Conflict
        with pytest.raises(Conflict):
            store.put(KEY, b"other")


@pytest.mark.parametrize("size", [100, 2 * MIN_PART + 1], ids=["single-part", "multipart"])
def test_a_connection_cut_mid_upload_leaves_no_object_and_says_so(s3_server, s3_buckets, size):
    bucket = s3_buckets()
    S3ObjectStore(s3_server.client(), bucket, write_once=True)  # tagged directly: the proxy cuts every PUT
    with MisbehavingProxy(s3_server.endpoint, cut_uploads=True) as proxy:
        client = make_client(proxy.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key,
                             config=client_config(max_attempts=2, connect_timeout_s=2, read_timeout_s=5))
        store = S3ObjectStore(client, bucket, part_size=MIN_PART)
        assert store.write_once
        with pytest.raises(BackendUnavailable, match=bucket):
            store.put(KEY, os.urandom(size))
        assert proxy.cut, "the proxy cut nothing: the test proves nothing"
    direct = S3ObjectStore(s3_server.client(), bucket)
    assert not direct.exists(KEY) and list(direct.list()) == []
    assert direct.multipart_uploads() == []  # the failed multipart upload was aborted


def test_an_empty_object_round_trips(s3_server, s3_buckets):
    store = S3ObjectStore(s3_server.client(), s3_buckets(), write_once=True)
    info = store.put(KEY, b"")
    assert (info.size, info.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert store.get(KEY) == b"" and store.head(KEY).size == 0 and store.get_range(KEY, 0, 10) == b""


def test_wrong_credentials_name_the_problem_never_the_secret(s3_server, s3_buckets):
    bucket = s3_buckets()
    canary = "CANARY-secret-7f3a9c1e"
    client = make_client(s3_server.endpoint, access_key=s3_server.access_key, secret_key=canary)
    with pytest.raises(BackendUnavailable) as err:
        S3ObjectStore(client, bucket).get("x")
    assert "refused the credentials" in str(err.value) or "credentials" in str(err.value)
    assert canary not in str(err.value) and canary not in repr(err.value.__cause__)


def test_a_missing_bucket_is_named(s3_server):
    with pytest.raises(BackendUnavailable, match="bucket no-such-bucket-x1 does not exist"):
        S3ObjectStore(s3_server.client(), "no-such-bucket-x1").get("x")


def test_a_server_that_is_not_there_is_backend_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    client = make_client(f"http://127.0.0.1:{port}", access_key="a", secret_key="b",
                         config=client_config(max_attempts=1, connect_timeout_s=1))
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        S3ObjectStore(client, "any")


def test_endpoint_without_scheme_is_refused():
    with pytest.raises(InvalidInput, match="http:// or https://"):
        make_client("127.0.0.1:7070")


# -- the race: 32 processes, one key per round ----------------------------------------------------------------
def _racer(endpoint, access, secret, bucket, rounds, size, barrier, results, me):
    client = make_client(endpoint, access_key=access, secret_key=secret)
    store = S3ObjectStore(client, bucket, write_once=True, part_size=MIN_PART, concurrency=2)
    for r in range(rounds):
        body = me.to_bytes(2, "big") * (size // 2)
        barrier.wait()
        try:
            store.put(f"race/{r}", body)
            results.put((r, me, "won"))
        except Conflict:
            results.put((r, me, "conflict"))
        except Exception as err:  # noqa: BLE001 - reported, fails the test
            results.put((r, me, f"error {type(err).__name__}: {err}"))


def race(endpoint, server, bucket, *, writers: int, rounds: int, size: int) -> dict[int, list[int]]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(endpoint, server.access_key, server.secret_key, bucket, rounds, size,
                                               barrier, results, me)) for me in range(writers)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in range(writers * rounds)]
    for p in procs:
        p.join(60)
    errors = [o for o in outcomes if o[2].startswith("error")]
    assert not errors, errors[:3]
    winners: dict[int, list[int]] = {r: [] for r in range(rounds)}
    for r, me, what in outcomes:
        if what == "won":
            winners[r].append(me)
    return winners


ROUNDS = int(os.environ.get("JACKFRUIT_RACE_ROUNDS", "20"))


@pytest.mark.slow
@pytest.mark.parametrize("size", [4096, MIN_PART + 2], ids=["single-part", "multipart"])
def test_32_writers_exactly_one_wins_each_round(s3_server, s3_buckets, size):
    bucket = s3_buckets()
    winners = race(s3_server.endpoint, s3_server, bucket, writers=32, rounds=ROUNDS, size=size)
    store = S3ObjectStore(s3_server.client(), bucket)
    counts = {r: len(w) for r, w in winners.items()}
    print(f"race {size} bytes: winners per round {counts}")
    assert all(n == 1 for n in counts.values()), counts
    for r, (me,) in winners.items():
        assert store.get(f"race/{r}") == me.to_bytes(2, "big") * (size // 2)  # the winner's bytes
    assert store.multipart_uploads() == []


@pytest.mark.slow
def test_negative_control_without_the_condition_several_writers_win(s3_server, s3_buckets):
    """The same race through a proxy that strips If-None-Match: the test above can fail."""
    bucket = s3_buckets()
    with MisbehavingProxy(s3_server.endpoint, strip_if_none_match=True,
                          credentials=(s3_server.access_key, s3_server.secret_key)) as proxy:
        winners = race(proxy.endpoint, s3_server, bucket, writers=32, rounds=3, size=4096)
    counts = [len(w) for w in winners.values()]
    print(f"negative control: winners per round {counts}")
    assert max(counts) > 1, counts


def test_boto3_managed_transfers_still_refuse_if_none_match(s3_server, s3_buckets):
    """Why S3ObjectStore drives its own multipart upload (ADR 0007): boto3's managed transfers do not accept
    IfNoneMatch. If an SDK upgrade lifts this, this test fails and the choice can be revisited."""
    client, bucket = s3_server.client(), s3_buckets()
    with pytest.raises(ValueError, match="IfNoneMatch"):
        client.upload_fileobj(io.BytesIO(b"x"), bucket, "k", ExtraArgs={"IfNoneMatch": "*"})
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)
