"""What the CI's S3 server (versitygw) enforces on the raw bucket, beyond jackfruit's own conditional writes: the
versitygw row of the table in docs/adr/0012-production-on-aws.md.

- The write-once tag alone is advisory: with the server's keys, an unconditional PUT, a metadata-replacing copy
  and a DeleteObject all succeed (only writers that send If-None-Match, as jackfruit's do, are held).
- `storage init` makes the raw bucket with Object Lock (versitygw supports it; its versioning needs a versioning
  directory this server is started without: reported as unsupported) and, with JACKFRUIT_RAW_RETENTION_DAYS, a
  default retention: then all three are refused by the server, for every client.
- jackfruit's own second write to a locked key is a Conflict (versitygw answers AccessDenied, not 412).
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from jackfruit.adapters.storage.s3_admin import init_buckets
from jackfruit.adapters.storage.s3_store import S3ObjectStore
from jackfruit.domain.errors import Conflict

KEY = "ads/cams-europe-air-quality-forecasts/2025-03-12/run.grib"


def _foreign_writes(client, bucket: str) -> dict[str, str]:
    """Another client with the server's keys: what happens to an unconditional PUT, a copy over, a delete."""
    outcome = {}
    for name, call in (
            ("unconditional put", lambda: client.put_object(Bucket=bucket, Key=KEY, Body=b"forged")),
            ("metadata-replacing copy", lambda: client.copy_object(
                Bucket=bucket, Key=KEY, CopySource={"Bucket": bucket, "Key": KEY}, MetadataDirective="REPLACE",
                Metadata={"forged": "yes"})),
            ("delete", lambda: client.delete_object(Bucket=bucket, Key=KEY))):
        try:
            call()
            outcome[name] = "succeeded"
        except ClientError as err:
            outcome[name] = f"refused ({err.response['Error']['Code']})"
    return outcome


@pytest.fixture
def raw_bucket(s3_server):
    """A raw bucket name; removed afterwards, locked objects included (GOVERNANCE retention, bypassed)."""
    client = s3_server.client()
    name = f"raw-lock-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    except ClientError:
        pass
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=o["Key"], BypassGovernanceRetention=True)
    client.delete_bucket(Bucket=name)


def test_the_tag_alone_is_advisory_on_versitygw(s3_server, s3_buckets):
    bucket = s3_buckets("raw")
    store = S3ObjectStore(s3_server.client(), bucket, write_once=True)
    store.put(KEY, b"evidence")
    assert _foreign_writes(s3_server.client(), bucket) == {
        "unconditional put": "succeeded", "metadata-replacing copy": "succeeded", "delete": "succeeded"}


def test_storage_init_with_a_retention_makes_versitygw_refuse_every_overwrite_and_delete(s3_server, raw_bucket):
    client = s3_server.client()
    lines = init_buckets(client, [(raw_bucket, True)], retention=("GOVERNANCE", 1))
    text = "\n".join(lines)
    assert f"{raw_bucket}: created with Object Lock enabled" in text
    assert "versioning not supported by this server (VersioningNotConfigured)" in text
    assert "Object Lock default retention GOVERNANCE 1 day(s) (set)" in text
    # idempotent: a second init finds it all and changes nothing
    again = "\n".join(init_buckets(client, [(raw_bucket, True)], retention=("GOVERNANCE", 1)))
    assert "(set)" not in again and "created" not in again and "Object Lock default retention GOVERNANCE 1" in again

    store = S3ObjectStore(client, raw_bucket)  # opened as tagged: write-once
    assert store.write_once
    store.put(KEY, b"evidence")
    assert _foreign_writes(client, raw_bucket) == {
        "unconditional put": "refused (AccessDenied)", "metadata-replacing copy": "refused (AccessDenied)",
        "delete": "refused (AccessDenied)"}
    assert store.get(KEY) == b"evidence"
    # jackfruit's own second write, past its early existence check: the server's refusal is a Conflict
    racer = S3ObjectStore(client, raw_bucket)
    racer.exists = lambda key: False  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="write-once"):
        racer.put(KEY, b"second")
    assert store.get(KEY) == b"evidence"


def test_storage_init_without_a_retention_says_write_once_is_only_jackfruits(s3_server, raw_bucket):
    text = "\n".join(init_buckets(s3_server.client(), [(raw_bucket, True)]))
    assert "no default retention (JACKFRUIT_RAW_RETENTION_DAYS unset)" in text
