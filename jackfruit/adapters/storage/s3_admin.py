"""Bucket administration on S3 and S3-compatible servers (``jackfruit storage init``), through boto3.

Creates missing buckets, marks the raw bucket write-once (bucket tag), and sets exactly one lifecycle rule
per bucket: abort incomplete multipart uploads after a day. Nothing expires objects: pruning curated
objects is the catalog's ``gc``, never a lifecycle rule. What a server does not support is reported, never
faked.
"""

from __future__ import annotations

from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from jackfruit.domain.errors import BackendUnavailable

from .s3_store import S3ObjectStore, _code

RULE_ID = "jackfruit-abort-incomplete-uploads"
_UNSUPPORTED = {"NotImplemented", "501", "MethodNotAllowed", "405"}


def init_buckets(client: Any, buckets: Sequence[tuple[str, bool]], *, region: str = "us-east-1",
                 abort_after_days: int = 1, retention: tuple[str, int] | None = None) -> list[str]:
    """For each ``(bucket, write_once)``: create it if missing (a write-once one with versioning and Object Lock
    where the server supports them, and ``retention`` = (mode, days) as its default retention when given), tag it
    write-once when asked, set the rule. Returns one line per thing done, found, or found unsupported."""
    endpoint = str(getattr(client.meta, "endpoint_url", "") or "")
    lines: list[str] = []
    for name, write_once in buckets:
        try:
            lines.append(_ensure(client, name, region, object_lock=write_once))
            if write_once:
                lines.extend(protect_write_once(client, name, retention))
                S3ObjectStore(client, name, write_once=True)  # tags it; refuses nothing already tagged
                lines.append(f"{name}: write-once (bucket tag jackfruit-write-once=true; every write is "
                             "conditional on If-None-Match)")
            lines.append(_lifecycle(client, name, abort_after_days))
        except ClientError as err:
            raise BackendUnavailable(f"storage init: bucket {name} at {endpoint}: {_code(err)}") from None
        except BotoCoreError as err:
            raise BackendUnavailable(f"storage init: bucket {name} at {endpoint}: {type(err).__name__}") from None
    return lines


def _ensure(client: Any, name: str, region: str, object_lock: bool = False) -> str:
    try:
        client.head_bucket(Bucket=name)
        return f"{name}: exists"
    except ClientError as err:
        if _code(err) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"ObjectLockEnabledForBucket": True} if object_lock else {}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(Bucket=name, **kwargs)
    except ClientError as err:
        if object_lock and _code(err) in _UNSUPPORTED | {"InvalidRequest", "InvalidArgument"}:
            return _ensure(client, name, region) + " (without Object Lock: not supported by this server)"
        if _code(err) not in ("BucketAlreadyOwnedByYou",):
            raise
    return f"{name}: created" + (" with Object Lock enabled" if object_lock else "")


def protect_write_once(client: Any, name: str, retention: tuple[str, int] | None) -> list[str]:
    """Versioning, and a default Object Lock retention when asked; reports what the bucket has, what was set
    and what the server does not support (never faked). A bucket made by someone else is only read, unless a
    retention is asked for that it does not have."""
    lines = []
    try:
        if client.get_bucket_versioning(Bucket=name).get("Status") == "Enabled":
            lines.append(f"{name}: versioning enabled")
        else:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            lines.append(f"{name}: versioning enabled (set)")
    except ClientError as err:
        if _code(err) not in _UNSUPPORTED | {"VersioningNotConfigured"}:
            raise
        lines.append(f"{name}: versioning not supported by this server ({_code(err)})")
    try:
        config = client.get_object_lock_configuration(Bucket=name).get("ObjectLockConfiguration", {})
    except ClientError as err:
        if _code(err) not in _UNSUPPORTED | {"ObjectLockConfigurationNotFoundError", "InvalidRequest"}:
            raise
        return [*lines, f"{name}: no Object Lock ({_code(err)}): write-once holds only for writers that send "
                        "If-None-Match, as jackfruit's do"]
    current = config.get("Rule", {}).get("DefaultRetention", {})
    if retention and (current.get("Mode"), current.get("Days")) != retention:
        mode, days = retention
        client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}}})
        return [*lines, f"{name}: Object Lock default retention {mode} {days} day(s) (set)"]
    if current:
        span = f"{current['Days']} day(s)" if current.get("Days") else f"{current.get('Years')} year(s)"
        return [*lines, f"{name}: Object Lock default retention {current.get('Mode')} {span}"]
    return [*lines, f"{name}: Object Lock enabled, no default retention (JACKFRUIT_RAW_RETENTION_DAYS unset): "
                    "write-once holds only for writers that send If-None-Match"]


def _lifecycle(client: Any, name: str, days: int) -> str:
    """Our one rule, merged into the bucket's other rules (a PUT replaces them all)."""
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=name).get("Rules", [])
    except ClientError as err:
        if _code(err) in _UNSUPPORTED:
            return _unsupported(name, err)
        if _code(err) not in ("NoSuchLifecycleConfiguration", "404"):
            raise
        rules = []
    ours = {"ID": RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}}
    if any(r.get("ID") == RULE_ID and r.get("AbortIncompleteMultipartUpload") == ours[
            "AbortIncompleteMultipartUpload"] and r.get("Status") == "Enabled" for r in rules):
        return f"{name}: lifecycle rule {RULE_ID} already set"
    others = [r for r in rules if r.get("ID") != RULE_ID]
    try:
        client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [*others, ours]})
    except ClientError as err:
        if _code(err) in _UNSUPPORTED:
            return _unsupported(name, err)
        raise
    return f"{name}: lifecycle rule {RULE_ID} set (abort incomplete multipart uploads after {days} day(s))"


def _unsupported(name: str, err: ClientError) -> str:
    return (f"{name}: this server does not support lifecycle rules ({_code(err)}): incomplete multipart uploads "
            "are removed only by `jackfruit gc`")
