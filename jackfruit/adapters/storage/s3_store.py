"""S3ObjectStore: one S3 bucket through boto3 (AWS S3, or MinIO/versitygw through an endpoint override).

Write-once is enforced by the server: every write to a write-once bucket carries ``If-None-Match: *``, on
``PutObject`` and on ``CompleteMultipartUpload`` (boto3's managed transfers refuse that parameter, so this
store drives its own multipart upload: parts of ``part_size`` bytes, at most ``concurrency`` in flight, so
memory stays below ``part_size x (concurrency + 1)`` whatever the object's size). A refused write (412) is the
domain's ``Conflict`` -- unless the object there is this very write, whose reply was lost and whose retry
found it: every write stamps its object with a unique token (user metadata ``jackfruit-put``), and a 412 is
resolved by reading that token back (docs/adr/0007-s3-object-storage.md).

A bucket opened write-once is marked with the bucket tag ``jackfruit-write-once=true``; opening a marked
bucket for rewriting is refused, as for the filesystem store. No botocore exception crosses the port:
every failure becomes a domain error that names the bucket, key and endpoint, never a credential.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import uuid
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, BinaryIO, Callable, Collection, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from jackfruit.domain.errors import BackendUnavailable, Conflict, InvalidInput, JackfruitError
from jackfruit.ports.runner import Secret
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key
from ._s3_common import DENIED, NOT_FOUND, ObjectBody, S3Reads, server_error, transport_error
from ._streams import read_full

WRITE_ONCE_TAG = "jackfruit-write-once"
PUT_TOKEN = "jackfruit-put"  # user metadata: this write's unique token (lost-reply resolution)
SHA_META = "jackfruit-sha256"  # user metadata on single-part writes (multipart: the catalog has it)
MIN_PART = 5 * 1024 * 1024
_PRECONDITION = {"412", "PreconditionFailed"}
_CONFLICTING = {"409", "ConditionalRequestConflict", "OperationAborted"}


def client_config(*, concurrency: int = 4, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0,
                  max_attempts: int = 5) -> Config:
    """botocore settings shared by the stores: path-style addressing (works with MinIO and versitygw as
    with AWS), bounded timeouts, botocore's standard retry mode (idempotent retries with backoff)."""
    return Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": max_attempts},
                  connect_timeout=connect_timeout_s, read_timeout=read_timeout_s,
                  max_pool_connections=max(10, 2 * concurrency),
                  request_checksum_calculation="when_required", response_checksum_validation="when_required")


def make_session(*, access_key: str | None = None, secret_key: str | None = None, session_token: str | None = None,
                 profile: str | None = None) -> Any:
    """A boto3 session: the keys given, else the profile, else boto3's chain (environment, config files,
    instance or task role)."""
    try:
        return boto3.session.Session(aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
                                     aws_session_token=session_token or None, profile_name=profile or None)
    except BotoCoreError as err:  # e.g. ProfileNotFound
        raise InvalidInput(f"S3 credentials: {err}") from None


def make_client(endpoint: str | None, *, access_key: str | None = None, secret_key: str | None = None,
                session_token: str | None = None, region: str | None = None, profile: str | None = None,
                ca_bundle: str | None = None, config: Config | None = None, session: Any = None) -> Any:
    """A boto3 S3 client. ``endpoint`` None: AWS itself. TLS follows the endpoint's scheme; ``ca_bundle``
    replaces the system's CAs for it."""
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise InvalidInput(f"S3 endpoint {endpoint!r} must start with http:// or https://")
    session = session or make_session(access_key=access_key, secret_key=secret_key, session_token=session_token,
                                      profile=profile)
    return session.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1",
                          verify=ca_bundle if ca_bundle else None, config=config or client_config())


def sink_credentials(session: Any) -> Callable[[], dict[str, Secret]]:
    """For the Go ingester's S3 sink: the session's current credentials (temporary ones are refreshed by
    boto3), fetched when a job starts. ``BackendUnavailable`` when the session has none."""

    def current() -> dict[str, Secret]:
        creds = session.get_credentials()
        if creds is None:
            raise BackendUnavailable("no S3 credentials found (MINIO_ACCESS_KEY/MINIO_SECRET_KEY, a profile, "
                                     "the environment or an instance role) for the ingester's S3 sink")
        frozen = creds.get_frozen_credentials()
        out = {"access_key": Secret(frozen.access_key), "secret_key": Secret(frozen.secret_key)}
        if frozen.token:
            out["session_token"] = Secret(frozen.token)
        return out

    return current


def sink_url(bucket: str, endpoint: str | None, region: str, ca_bundle: str | None = None) -> str:
    """The ``s3://`` target of a bucket for the Go ingester (no secret in it)."""
    from urllib.parse import urlencode

    query = {"endpoint": endpoint or f"https://s3.{region}.amazonaws.com", "region": region}
    if ca_bundle:
        query["ca_bundle"] = ca_bundle
    return f"s3://{bucket}?{urlencode(query)}"


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "")) or str(
        err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


class S3ObjectStore(S3Reads):
    def __init__(self, client: Any, bucket: str, *, write_once: bool | None = None,
                 part_size: int = 16 * 1024 * 1024, concurrency: int = 4) -> None:
        """``write_once=None`` opens the bucket as it is tagged (plain if untagged); ``True`` tags it.
        The bucket must exist (``jackfruit storage init`` creates it)."""
        if part_size < MIN_PART:
            raise InvalidInput(f"S3 part size {part_size} is below the 5 MiB minimum of S3 multipart uploads")
        if concurrency < 1:
            raise InvalidInput("S3 upload concurrency must be >= 1")
        self.client, self.bucket = client, bucket
        self.part_size, self.concurrency = part_size, concurrency
        self.endpoint = str(getattr(client.meta, "endpoint_url", "") or "")
        marked = self._marked()
        if marked and write_once is False:
            raise InvalidInput(f"bucket {bucket} at {self.endpoint} is write-once (raw evidence); it cannot be "
                               "opened for rewriting")
        if write_once and not marked:
            self._mark()
        self.write_once = bool(marked or write_once)

    # -- errors ---------------------------------------------------------------------------------------------
    def _error(self, err: Exception, what: str, key: str | None = None) -> JackfruitError:
        if isinstance(err, ClientError):
            return server_error(_code(err), what, self.endpoint, self.bucket, key)
        return transport_error(err, what, self.endpoint, self.bucket, key)

    def _call(self, what: str, key: str | None, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as err:
            raise self._error(err, what, key) from None

    # -- the write-once marker ------------------------------------------------------------------------------
    def _tags(self) -> list[dict[str, str]]:
        try:
            return list(self.client.get_bucket_tagging(Bucket=self.bucket).get("TagSet", []))
        except ClientError as err:
            if _code(err) in ("NoSuchTagSet", "NoSuchTagSetError", "404") and _code(err) != "NoSuchBucket":
                return []
            raise self._error(err, "reading the tags of") from None
        except BotoCoreError as err:
            raise self._error(err, "reading the tags of") from None

    def _marked(self) -> bool:
        return any(t.get("Key") == WRITE_ONCE_TAG and t.get("Value") == "true" for t in self._tags())

    def _mark(self) -> None:
        tags = [t for t in self._tags() if t.get("Key") != WRITE_ONCE_TAG] + [{"Key": WRITE_ONCE_TAG, "Value": "true"}]
        self._call("tagging", None, self.client.put_bucket_tagging, Tagging={"TagSet": tags})

    # -- writes ---------------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        check_object_key(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            stream: BinaryIO = io.BytesIO(bytes(data))
        else:
            stream = data
        if self.write_once and self.exists(key):  # a cheap early refusal; the server's condition decides
            raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once")
        token = uuid.uuid4().hex
        first = read_full(stream, self.part_size)
        if len(first) < self.part_size:
            return self._put_single(key, first, token)
        held = [first]
        del first  # the multipart upload owns the first part: memory stays part x (concurrency + 1)
        return self._put_multipart(key, held, stream, token)

    def put_file(self, key: str, path: str) -> ObjectInfo:
        import os

        try:
            f = open(path, "rb")
        except OSError as err:
            raise InvalidInput(f"cannot read {path} to store it as {self.bucket}/{key}: {err.strerror}") from err
        with f:
            info = self.put(key, f)
        os.unlink(path)
        return info

    def _condition(self) -> dict[str, str]:
        return {"IfNoneMatch": "*"} if self.write_once else {}

    def _put_single(self, key: str, body: bytes, token: str) -> ObjectInfo:
        digest = hashlib.sha256(body)
        sha = digest.hexdigest()
        try:
            # the integrity header (x-amz-checksum-sha256, named by x-amz-sdk-checksum-algorithm): the server checks
            # the bytes against it, and S3 requires one on a PutObject into a bucket with a default Object Lock retention
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata={PUT_TOKEN: token, SHA_META: sha},
                                   ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                                   **self._condition())
        except ClientError as err:
            self._refused(err, key, token, "put")
        except BotoCoreError as err:
            raise self._error(err, "put", key) from None
        return ObjectInfo(key, len(body), sha)

    def _refused(self, err: ClientError, key: str, token: str, what: str) -> None:
        """A refused conditional write: ours (the reply was lost and the retry found our object) or Conflict."""
        code = _code(err)
        # a server enforcing Object Lock may refuse a write to a locked key with AccessDenied instead of 412
        # (versitygw): the same answer when the key holds an object
        locked = code in DENIED and self.write_once and self._exists_quietly(key)
        if code in _PRECONDITION or code in _CONFLICTING or locked:
            if self._stamped_by(key, token):
                return
            raise Conflict(f"{self.bucket}/{key} already exists and this bucket is write-once") from None
        raise self._error(err, what, key) from None

    def _exists_quietly(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except (ClientError, BotoCoreError):
            return False

    def _stamped_by(self, key: str, token: str) -> bool:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _code(err) in NOT_FOUND:
                return False
            raise self._error(err, "head", key) from None
        except BotoCoreError as err:
            raise self._error(err, "head", key) from None
        return head.get("Metadata", {}).get(PUT_TOKEN) == token

    def _put_multipart(self, key: str, held: list[bytes], stream: BinaryIO, token: str) -> ObjectInfo:
        # every part carries its CRC-32 (x-amz-checksum-crc32), checked by the server; Object Lock needs one
        created = self._call("multipart upload of", key, self.client.create_multipart_upload, Key=key,
                             Metadata={PUT_TOKEN: token}, ChecksumAlgorithm="CRC32")
        upload_id = created["UploadId"]
        digest, size = hashlib.sha256(), 0
        parts: dict[int, dict[str, Any]] = {}
        lock = threading.Lock()

        def send(number: int, body: bytes) -> None:
            crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
            reply = self._call("upload of a part of", key, self.client.upload_part, Key=key, UploadId=upload_id,
                               PartNumber=number, Body=body, ChecksumAlgorithm="CRC32", ChecksumCRC32=crc)
            with lock:
                parts[number] = {"PartNumber": number, "ETag": reply["ETag"], "ChecksumCRC32": crc}

        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part") as pool:
                pending: set[Future[None]] = set()
                number, body = 1, held.pop()
                while body:
                    digest.update(body)
                    size += len(body)
                    if len(pending) >= self.concurrency:  # bounded memory: wait for a free slot
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    pending.add(pool.submit(send, number, body))
                    del body
                    number += 1
                    body = read_full(stream, self.part_size)
                for future in pending:
                    future.result()
            try:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": [parts[n] for n in sorted(parts)]},
                    **self._condition())
            except ClientError as err:
                if _code(err) == "NoSuchUpload" and self._stamped_by(key, token):
                    return ObjectInfo(key, size, digest.hexdigest())  # completed; the reply was lost
                self._refused(err, key, token, "completing the multipart upload of")
            except BotoCoreError as err:
                raise self._error(err, "completing the multipart upload of", key) from None
        except BaseException:
            self._abort(key, upload_id)
            raise
        return ObjectInfo(key, size, digest.hexdigest())

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            pass  # gc (sweep_partials) and the bucket's lifecycle rule remove it later

    # -- reads ----------------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        check_object_key(key)
        reply = self._call("get", key, self.client.get_object, Key=key)
        body = reply["Body"]
        return ObjectBody(body.read, body.close, (BotoCoreError, OSError, ValueError),  # type: ignore[return-value]
                          f"{self.bucket}/{key}", self.endpoint)

    def _ranged(self, key: str, start: int, length: int | None) -> bytes:
        span = f"bytes={start}-" if length is None else f"bytes={start}-{start + length - 1}"
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key, Range=span)
            return reply["Body"].read()
        except ClientError as err:
            if _code(err) in ("InvalidRange", "416"):
                return b""  # the object exists and ends before ``start``
            raise self._error(err, "ranged get", key) from None
        except (BotoCoreError, OSError) as err:
            raise self._error(err, "ranged get", key) from None

    def head(self, key: str) -> ObjectInfo:
        check_object_key(key)
        reply = self._call("head", key, self.client.head_object, Key=key)
        return ObjectInfo(key, int(reply["ContentLength"]), reply.get("Metadata", {}).get(SHA_META))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            items = [ObjectInfo(o["Key"], int(o["Size"])) for page in pages for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as err:
            raise self._error(err, f"listing prefix {prefix!r} of") from None
        return iter(sorted(items, key=lambda i: i.key))

    def delete(self, key: str) -> None:
        check_object_key(key)
        if self.write_once:
            raise Conflict(f"{self.bucket}/{key}: this bucket is write-once; objects are never deleted")
        self.head(key)  # NotFound for a missing key, as the port says
        self._call("delete", key, self.client.delete_object, Key=key)

    def sweep_partials(self, ended_attempts: Collection[str], idle_keys: Collection[str] = ()) -> int:
        """Abort unfinished multipart uploads whose key names an ended attempt (tile keys carry their attempt,
        ``.../v{version}-{attempt}.zarr/...``) or is one of ``idle_keys`` (a raw key names its run, not the
        attempt: the caller passes the raw keys of runs with no live ingest attempt). Completed objects are
        never touched: aborting an upload cannot change a committed object."""
        ended, idle = set(ended_attempts), set(idle_keys)
        if not ended and not idle:
            return 0
        removed = 0
        for key, upload_id in self.multipart_uploads():
            if key in idle or any(a in key for a in ended):
                self._abort(key, upload_id)
                removed += 1
        return removed

    def multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        """Unfinished multipart uploads: (key, upload id)."""
        out = []
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                     Prefix=prefix):
                out.extend((u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        except (ClientError, BotoCoreError) as err:
            raise self._error(err, "listing the multipart uploads of") from None
        return out
