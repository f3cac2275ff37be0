"""jackfruit on buckets it did not create (a stack made them: docs/deploy-aws.md), as on AWS:

- no CreateBucket, no bucket tagging or lifecycle writes: the buckets exist and the raw one already carries the
  write-once marker, so jackfruit opens it write-once with read rights only on the bucket;
- credentials from boto3's chain (here the environment's AWS_* variables, as a task role's would be), no
  MINIO_* keys, reaching the Go ingester too;
- every raw write carries an integrity header (S3 refuses a PutObject without one into a bucket with a default
  Object Lock retention): x-amz-checksum-crc32c from the Go ingester, x-amz-checksum-sha256 (single part) or
  x-amz-checksum-crc32 (each part) from Python. The headers are read off the wire by the recording proxy.
"""

from __future__ import annotations

import io
import os

import pytest

from jackfruit.adapters.storage.s3_store import MIN_PART, S3ObjectStore, make_client
from jackfruit.domain.model import RunStatus
from jackfruit.synthetic.ads_stub import AdsStub

from ..s3proxy import MisbehavingProxy
from .test_run_recovery import KEY, app_of, ingest_argv, start

pytestmark = pytest.mark.slow


def _stack_made(s3_server, s3_buckets) -> tuple[str, str]:
    """What the OpenTofu stack leaves: two buckets, raw tagged write-once, the abort-uploads rule on both."""
    admin = s3_server.client()
    raw, curated = s3_buckets("raw"), s3_buckets("curated")
    admin.put_bucket_tagging(Bucket=raw, Tagging={"TagSet": [{"Key": "jackfruit-write-once", "Value": "true"},
                                                             {"Key": "Project", "Value": "jackfruit"}]})
    return raw, curated


def _admin_requests(proxy: MisbehavingProxy) -> list[str]:
    """Requests that need more than object rights: bucket creation or changes to a bucket's configuration."""
    return [f"{r.method} {r.path} {sorted(r.query)}" for r in proxy.requests
            if r.method in ("PUT", "DELETE") and r.path.strip("/").count("/") == 0]


def test_ingest_and_transform_on_stack_buckets_with_chain_credentials(tmp_path, s3_server, s3_buckets):
    raw, curated = _stack_made(s3_server, s3_buckets)
    with MisbehavingProxy(s3_server.endpoint) as proxy, \
            AdsStub(api_key=KEY, extra_args=("--job-seconds", "0.2", "--bits", "12")) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JACKFRUIT_", "ADS_", "MINIO_", "AWS_"))}
        env.update(JACKFRUIT_DATA_DIR=str(tmp_path / "data"), ADS_BASE_URL=stub.url, ADS_API_KEY=KEY,
                   JACKFRUIT_INGEST_POLL_INITIAL_S="0.1", JACKFRUIT_OBJECT_STORE="s3", MINIO_ENDPOINT=proxy.endpoint,
                   MINIO_BUCKET=raw, JACKFRUIT_CURATED_BUCKET=curated,
                   # boto3's chain: the keys come from the environment, as a task role's come from ECS
                   AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key)
        assert not any(k.startswith("MINIO_ACCESS") or k.startswith("MINIO_SECRET") for k in env)
        proc = start(env, *ingest_argv())
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert s3_server.secret_key not in out + err
        app = app_of(env)
        (run,) = app.runs()
        assert run.status is RunStatus.SUCCEEDED
        assert app.raw_store.write_once  # from the stack's marker, not from a tag jackfruit wrote
        tiles = app.transform(run.run_id)
        assert tiles and app.verify().problems == []

    assert _admin_requests(proxy) == [], "jackfruit changed a bucket it did not create"
    assert not [r for r in proxy.requests if "tagging" in r.query and r.method != "GET"]
    raw_puts = [r.headers for r in proxy.requests
                if r.method == "PUT" and r.path == f"/{raw}/{run.raw_key}" and "partNumber" not in r.query]
    assert raw_puts, "the raw object was not written through the proxy: the test proves nothing"
    for headers in raw_puts:  # the Go ingester's PutObject (the stub's product fits one part)
        assert "minio-go" in headers.get("user-agent", ""), headers.get("user-agent")
        assert headers.get("content-md5") and headers.get("x-amz-checksum-crc32c"), sorted(headers)
        assert headers.get("if-none-match") == "*"
    curated_puts = [r.headers for r in proxy.requests
                    if r.method == "PUT" and r.path.startswith(f"/{curated}/") and "partNumber" not in r.query]
    assert curated_puts and all(h.get("x-amz-checksum-sha256") for h in curated_puts)


@pytest.mark.parametrize("size", [100, 2 * MIN_PART + 1], ids=["single-part", "multipart"])
def test_python_raw_writes_carry_an_integrity_header(s3_server, s3_buckets, size):
    raw, _ = _stack_made(s3_server, s3_buckets)
    with MisbehavingProxy(s3_server.endpoint) as proxy:
        client = make_client(proxy.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key)
        store = S3ObjectStore(client, raw, write_once=True, part_size=MIN_PART)
        body = os.urandom(size)
        store.put("ads/x/2025-03-12/obj.grib", io.BytesIO(body))
        assert store.get("ads/x/2025-03-12/obj.grib") == body
    puts = [r for r in proxy.requests if r.method == "PUT" and "/ads/x/" in r.path]
    assert puts
    if size < MIN_PART:
        (put,) = puts
        assert put.headers.get("x-amz-checksum-sha256") and put.headers.get("x-amz-sdk-checksum-algorithm") == "SHA256"
        assert put.headers.get("if-none-match") == "*"
    else:
        assert len(puts) == 3 and all("partNumber" in r.query and r.headers.get("x-amz-checksum-crc32") and
                                      r.headers.get("x-amz-sdk-checksum-algorithm") == "CRC32" for r in puts)
    assert _admin_requests(proxy) == []
