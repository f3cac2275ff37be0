"""MinioObjectStore (minio-py) against a real S3-compatible server (versitygw, scripts/s3-server).

First, what the SDK can and cannot send (the reason this adapter refuses write-once buckets): these tests
record the requests on the wire through a loopback proxy, and FAIL the day a minio-py release sends a real
``If-None-Match`` condition (then lift the refusal; docs/adr/0007-s3-object-storage-minio-notes.md). Then the
adapter: multipart round-trip, the refusal, errors without credentials, bucket administration, TLS.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from minio import Minio

from jackfruit.adapters.storage import minio_store
from jackfruit.adapters.storage.minio_store import (ABORT_RULE_ID, MIN_PART, LifecycleUnsupported, MinioBucketAdmin,
                                                    MinioObjectStore, make_minio_client)
from jackfruit.adapters.storage.s3_store import S3ObjectStore
from jackfruit.domain.errors import BackendUnavailable, InvalidInput, NotFound

from ..conftest import require
from ..s3proxy import MisbehavingProxy as RecordingProxy  # here: only recording (and TLS) is used

ATTEMPT = "01890c24-905b-7122-b170-b60814e6ee06"


def _client(s3_server, endpoint: str | None = None, **kwargs):
    return make_minio_client(endpoint or s3_server.endpoint, s3_server.access_key, s3_server.secret_key, **kwargs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


# == 1. the SDK finding ==========================================================================================
def test_sdk_put_object_sends_if_none_match_as_user_metadata_and_the_second_put_overwrites(s3_server, s3_buckets):
    """minio-py 7.2.20: ``metadata={"If-None-Match": "*"}`` goes out as ``x-amz-meta-if-none-match: *``
    (helpers.normalize_headers), not as a condition: the second put silently overwrites. Fails (412 on the
    second put, or the header on the wire) the day an SDK release sends a real condition."""
    bucket = s3_buckets()
    with RecordingProxy(s3_server.endpoint) as proxy:
        client = _client(s3_server, proxy.endpoint, region="us-east-1")
        client.put_object(bucket, "k", io.BytesIO(b"first"), 5, metadata={"If-None-Match": "*"})
        client.put_object(bucket, "k", io.BytesIO(b"second!"), 7, metadata={"If-None-Match": "*"})  # no 412
        puts = [r for r in proxy.requests if r.method == "PUT" and r.path == f"/{bucket}/k"]
        assert len(puts) == 2
        for r in puts:
            assert "if-none-match" not in r.headers, "minio-py now sends a real If-None-Match: lift the refusal"
            assert r.headers["x-amz-meta-if-none-match"] == "*"
        response = client.get_object(bucket, "k")
        try:
            assert response.read() == b"second!"  # the first object is gone: a silent overwrite
        finally:
            response.close()
            response.release_conn()
        assert client.stat_object(bucket, "k").metadata["x-amz-meta-if-none-match"] == "*"  # stored as metadata


def test_control_the_server_refuses_a_real_if_none_match(s3_server, s3_buckets):
    """The same server refuses the second put when the header is really sent (boto3 through the same proxy):
    the overwrite above is the SDK's doing, not the server's."""
    from botocore.exceptions import ClientError

    from jackfruit.adapters.storage.s3_store import make_client

    bucket = s3_buckets()
    with RecordingProxy(s3_server.endpoint) as proxy:
        boto = make_client(proxy.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key)
        boto.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as refused:
            boto.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
        puts = [r for r in proxy.requests if r.method == "PUT" and r.path == f"/{bucket}/k"]
        assert [r.headers.get("if-none-match") for r in puts] == ["*", "*"]
    assert boto.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_sdk_multipart_completion_carries_no_condition_and_overwrites(s3_server, s3_buckets):
    """put_object's multipart path (length -1, > one part): the metadata rides on CreateMultipartUpload as
    ``x-amz-meta-if-none-match``; CompleteMultipartUpload (the request a condition must be on) carries none."""
    bucket = s3_buckets()
    first, second = b"a" * (MIN_PART + 1), b"b" * (MIN_PART + 2)
    with RecordingProxy(s3_server.endpoint) as proxy:
        client = _client(s3_server, proxy.endpoint, region="us-east-1")
        for body in (first, second):
            client.put_object(bucket, "m", io.BytesIO(body), -1, part_size=MIN_PART, num_parallel_uploads=1,
                              metadata={"If-None-Match": "*"})
        creates = [r for r in proxy.requests if r.method == "POST" and "uploads" in r.query]
        completes = [r for r in proxy.requests if r.method == "POST" and "uploadId" in r.query]
        assert len(creates) == 2 and len(completes) == 2, "the SDK no longer uploads these in parts"
        assert all(r.headers["x-amz-meta-if-none-match"] == "*" for r in creates)
        assert not any("if-none-match" in r.headers for r in proxy.requests), \
            "minio-py now sends a real If-None-Match: lift the refusal"
        assert client.stat_object(bucket, "m").size == len(second)  # the second upload replaced the first


def test_sdk_public_api_has_no_route_to_a_condition():
    """No public multipart call, and put_object / fput_object take no request headers (only metadata, which
    becomes x-amz-meta-*). A changed signature fails here: re-check whether it can now carry If-None-Match."""
    public_multipart = [n for n in dir(Minio) if not n.startswith("_") and "multipart" in n.lower()]
    assert public_multipart == []
    assert list(inspect.signature(Minio.put_object).parameters) == [
        "self", "bucket_name", "object_name", "data", "length", "content_type", "metadata", "sse", "progress",
        "part_size", "num_parallel_uploads", "tags", "retention", "legal_hold", "write_offset"]
    assert list(inspect.signature(Minio.fput_object).parameters) == [
        "self", "bucket_name", "object_name", "file_path", "content_type", "metadata", "sse", "progress",
        "part_size", "num_parallel_uploads", "tags", "retention", "legal_hold"]


# == 2. the adapter ==============================================================================================
def test_names_agree_with_the_boto3_adapter():
    from jackfruit.adapters.storage import s3_store

    assert (minio_store.WRITE_ONCE_TAG, minio_store.SHA_META, minio_store.MIN_PART) == (
        s3_store.WRITE_ONCE_TAG, s3_store.SHA_META, s3_store.MIN_PART)


def test_multipart_roundtrip_is_byte_exact_and_leaves_no_upload(s3_server, s3_buckets, tmp_path):
    bucket = s3_buckets()
    client = _client(s3_server)
    store = MinioObjectStore(client, bucket, part_size=MIN_PART)
    body = os.urandom(2 * MIN_PART + 12345)  # three 5 MiB parts, the last one short
    sha = hashlib.sha256(body).hexdigest()

    info = store.put("big/stream", io.BytesIO(body))  # unknown length: hashed while streaming
    assert (info.size, info.sha256) == (len(body), sha)
    assert store.get("big/stream") == body
    assert store.get_range("big/stream", MIN_PART - 3, 6) == body[MIN_PART - 3:MIN_PART + 3]
    assert store.get_range("big/stream", 2 * MIN_PART) == body[2 * MIN_PART:]
    assert store.head("big/stream") == type(info)("big/stream", len(body), None)  # digest unknown at the start
    assert client.stat_object(bucket, "big/stream").etag.endswith("-3")  # really three parts

    assert store.put("big/bytes", body).sha256 == sha  # known before the upload: recorded
    path = tmp_path / "tile"
    path.write_bytes(body)
    assert store.put_file("big/file", str(path)).sha256 == sha and not path.exists()
    for key in ("big/bytes", "big/file"):
        assert store.head(key).sha256 == sha
        assert client.stat_object(bucket, key).etag.endswith("-3")
        with store.open(key) as f:
            assert f.read() == body
    assert S3ObjectStore(s3_server.client(), bucket).multipart_uploads() == []


def test_a_failing_source_stream_raises_its_own_error_and_leaves_no_upload(s3_server, s3_buckets):
    bucket = s3_buckets()
    store = MinioObjectStore(_client(s3_server), bucket, part_size=MIN_PART, concurrency=1)

    class Breaks(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.sent >= 2 * MIN_PART:
                raise OSError("disk gone")
            n = min(len(buffer), 1 << 20)
            buffer[:n] = b"x" * n
            self.sent += n
            return n

    with pytest.raises(OSError, match="disk gone"):
        store.put("k", Breaks())
    assert not store.exists("k")
    assert S3ObjectStore(s3_server.client(), bucket).multipart_uploads() == []


def test_a_write_once_bucket_is_refused_with_the_boto3_hint(s3_server, s3_buckets):
    # asked for: refused before any request (an endpoint where nothing listens)
    nowhere = make_minio_client(f"http://127.0.0.1:{_closed_port()}", "a", "b", max_retries=0)
    with pytest.raises(InvalidInput) as refused:
        MinioObjectStore(nowhere, "jackfruit-raw", write_once=True)
    message = str(refused.value)
    for part in ("jackfruit-raw", "write-once", "If-None-Match", "x-amz-meta-if-none-match", "boto3",
                 "JACKFRUIT_OBJECT_STORE=s3"):
        assert part in message, (part, message)
    # a bucket the boto3 adapter tagged write-once: refused however it is opened
    bucket = s3_buckets()
    S3ObjectStore(s3_server.client(), bucket, write_once=True).put("ads/x.grib", b"evidence")
    for write_once in (None, False):
        with pytest.raises(InvalidInput, match=r"write-once \(tagged jackfruit-write-once=true.*boto3"):
            MinioObjectStore(_client(s3_server), bucket, write_once=write_once)
    # other tags do not matter
    other = s3_buckets()
    s3_server.client().put_bucket_tagging(Bucket=other, Tagging={"TagSet": [{"Key": "team", "Value": "x"}]})
    assert MinioObjectStore(_client(s3_server), other).write_once is False


@pytest.mark.parametrize("region", [None, "us-east-1"], ids=["bucket-location", "fixed-region"])
def test_wrong_credentials_name_the_problem_never_the_secret(s3_server, s3_buckets, region):
    bucket = s3_buckets()
    canary = "CANARY-secret-7f3a9c1e"
    bad = make_minio_client(s3_server.endpoint, s3_server.access_key, canary, region=region)
    errors = []
    with pytest.raises(BackendUnavailable) as err:
        MinioObjectStore(bad, bucket)
    errors.append(err.value)
    store = MinioObjectStore(_client(s3_server, region=region), bucket)
    store.client = bad  # opened with good credentials; every later call with bad ones
    for call in (lambda: store.get("x"), lambda: store.head("x"), lambda: store.put("x", b"1"),
                 lambda: list(store.list())):
        with pytest.raises(BackendUnavailable) as err:
            call()
        errors.append(err.value)
    for e in errors:
        assert "refused the credentials" in str(e) and s3_server.endpoint in str(e) and bucket in str(e), str(e)
        chain, seen = [e], e
        while seen.__cause__ is not None or seen.__context__ is not None:
            seen = seen.__cause__ or seen.__context__
            chain.append(seen)
        assert len(chain) > 1  # the SDK's error is chained for debugging...
        for link in chain:  # ...and neither it nor the message holds the secret
            assert canary not in str(link) and canary not in repr(link), repr(link)


def test_a_missing_bucket_is_named(s3_server):
    with pytest.raises(BackendUnavailable, match="bucket no-such-bucket-x1 does not exist at http://"):
        MinioObjectStore(_client(s3_server), "no-such-bucket-x1")


def test_a_server_that_is_not_there_is_backend_unavailable():
    port = _closed_port()
    started = time.monotonic()
    client = make_minio_client(f"http://127.0.0.1:{port}", "a", "b", connect_timeout_s=1)  # default retries
    with pytest.raises(BackendUnavailable, match=f"bucket any.*127.0.0.1:{port}"):
        MinioObjectStore(client, "any")
    assert time.monotonic() - started < 15  # bounded retries with backoff, no hang


def test_missing_keys_and_ranges(s3_server, s3_buckets):
    store = MinioObjectStore(_client(s3_server), s3_buckets())
    store.put("r", b"0123456789")
    assert store.get_range("r", 10) == b"" and store.get_range("r", 20, 5) == b"" and store.get_range("r", 3, 0) == b""
    with pytest.raises(NotFound):
        store.get_range("nope", 20, 5)
    with pytest.raises(InvalidInput):
        store.get_range("r", -1)


@pytest.mark.parametrize("endpoint", ["127.0.0.1:7070", "ftp://127.0.0.1", "http://", "http://h:1/path",
                                      "http://user:CANARY-pw@h:1", "user:CANARY-pw@h:1"])
def test_an_endpoint_must_be_scheme_host_port(endpoint):
    with pytest.raises(InvalidInput, match="http:// or https://|scheme://host") as err:
        make_minio_client(endpoint, "a", "b")
    assert "CANARY" not in str(err.value)


def test_sweep_partials_aborts_nothing_it_cannot_identify(s3_server, s3_buckets):
    bucket = s3_buckets()
    boto = s3_server.client()
    key = f"tiles/d/v1-{ATTEMPT}.zarr/c/0"
    boto.create_multipart_upload(Bucket=bucket, Key=key)  # a staged upload of an ended attempt
    store = MinioObjectStore(_client(s3_server), bucket)
    store.put("committed", b"x")
    assert store.sweep_partials({ATTEMPT}) == 0  # the public SDK cannot list uploads: documented, not faked
    assert [k for k, _ in S3ObjectStore(boto, bucket).multipart_uploads()] == [key]
    assert store.get("committed") == b"x"


# -- bucket administration --------------------------------------------------------------------------------------
def test_ensure_bucket_is_idempotent(s3_server):
    admin = MinioBucketAdmin(_client(s3_server))
    name = f"ensure-{uuid.uuid4().hex[:12]}"
    try:
        assert admin.ensure_bucket(name) is True
        assert admin.ensure_bucket(name) is False
        store = MinioObjectStore(_client(s3_server), name)
        assert store.ensure_bucket(name) is False
        store.put("k", b"v")
        assert store.get("k") == b"v"
        store.delete("k")
    finally:
        _client(s3_server).remove_bucket(name)
    with pytest.raises(InvalidInput):
        admin.ensure_bucket("Not_A_Bucket")


def test_versitygw_has_no_lifecycle_and_says_so(s3_server, s3_buckets):
    """versitygw (v1.8.0, posix backend) answers 501 NotImplemented to Get/PutBucketLifecycleConfiguration:
    the helper raises LifecycleUnsupported (a BackendUnavailable) saying so, never a silent success."""
    bucket = s3_buckets()
    with pytest.raises(LifecycleUnsupported) as err:
        MinioBucketAdmin(_client(s3_server)).set_abort_incomplete_uploads(bucket)
    assert isinstance(err.value, BackendUnavailable)
    assert str(err.value).startswith(f"the S3 server at {s3_server.endpoint} does not support bucket lifecycle "
                                     f"rules (NotImplemented): bucket {bucket} gets no AbortIncompleteMultipartUpload")


class _LifecycleServer:
    """A loopback stand-in for a server WITH lifecycle support (versitygw has none): keeps the lifecycle XML it
    is given (``forget``: accepts it and keeps nothing). Checks the helper's merge and read-back logic."""

    def __init__(self, *, forget: bool = False, initial: bytes | None = None) -> None:
        state = {"xml": initial}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not forget:
                    state["xml"] = body
                self._reply(200)

            def do_GET(self) -> None:
                if state["xml"] is None:
                    self._reply(404, b"<Error><Code>NoSuchLifecycleConfiguration</Code><Message>none</Message>"
                                     b"</Error>")
                else:
                    self._reply(200, state["xml"])

        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_OTHER_RULE = (b'<LifecycleConfiguration><Rule><ID>keep-me</ID><Status>Enabled</Status><Filter><Prefix>logs/'
               b'</Prefix></Filter><Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>')


def test_the_lifecycle_rule_is_set_beside_other_rules_and_read_back():
    server = _LifecycleServer(initial=_OTHER_RULE)
    try:
        admin = MinioBucketAdmin(make_minio_client(server.endpoint, "a", "b", region="us-east-1"))
        admin.set_abort_incomplete_uploads("curated", days=2)
        admin.set_abort_incomplete_uploads("curated", days=2)  # again: replaced, not duplicated
        xml = server.state["xml"].decode()
        assert xml.count(f"<ID>{ABORT_RULE_ID}</ID>") == 1 and "<ID>keep-me</ID>" in xml
        assert "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>" in xml
    finally:
        server.close()


def test_a_server_that_accepts_the_rule_but_does_not_keep_it_is_not_a_success():
    server = _LifecycleServer(forget=True)
    try:
        admin = MinioBucketAdmin(make_minio_client(server.endpoint, "a", "b", region="us-east-1"))
        with pytest.raises(LifecycleUnsupported, match="accepted the lifecycle rule of bucket curated but does not"):
            admin.set_abort_incomplete_uploads("curated")
    finally:
        server.close()


# -- TLS ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def tls_cert(tmp_path):
    openssl = shutil.which("openssl")
    require("openssl", openssl is not None, "install openssl (makes the test's self-signed certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_https_endpoint_with_a_ca_bundle(s3_server, s3_buckets, tls_cert):
    bucket = s3_buckets()
    with RecordingProxy(s3_server.endpoint, tls=tls_cert) as proxy:
        assert proxy.endpoint.startswith("https://")
        store = MinioObjectStore(_client(s3_server, proxy.endpoint, ca_bundle=tls_cert[0]), bucket)
        store.put("k", b"over tls")
        assert store.get("k") == b"over tls"
        assert proxy.requests  # it went through the TLS proxy
        untrusted = _client(s3_server, proxy.endpoint, max_retries=0)  # default CAs: the self-signed cert fails
        with pytest.raises(BackendUnavailable, match=f"SSLError talking to {proxy.endpoint}"):
            MinioObjectStore(untrusted, bucket)
    with pytest.raises(InvalidInput, match="CA bundle"):
        _client(s3_server, ca_bundle="/no/such/ca.pem")
