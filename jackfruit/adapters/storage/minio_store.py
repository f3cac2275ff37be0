"""MinioObjectStore: one mutable S3 bucket (the curated bucket) through the MinIO Python SDK (minio-py, Apache-2.0).

Mutable buckets only. minio-py 7.2.x's public API cannot make a write conditional: ``put_object`` and
``fput_object`` take no request headers, and a ``metadata={"If-None-Match": "*"}`` entry is sent as the user
metadata header ``x-amz-meta-if-none-match`` (the server stores it and overwrites the object); the multipart
calls that would carry the condition on ``CompleteMultipartUpload`` are private. So the server could not
refuse a second write, and this store refuses to open a write-once bucket (asked for, or tagged
``jackfruit-write-once=true``) with ``InvalidInput``: the raw bucket goes through the boto3 adapter
(``S3ObjectStore``), which sends ``If-None-Match: *`` itself. Evidence, with the SDK's source lines:
docs/adr/0007-s3-object-storage-minio-notes.md; tests/integration/test_minio_store.py proves it against a
real server and fails the day an SDK release sends a real condition.

Only public minio-py API is used. No minio or urllib3 exception crosses the port: every failure becomes a
domain error naming the endpoint, bucket and key, never a credential.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
from typing import Any, BinaryIO, Callable, Collection, Iterator
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule

from jackfruit.domain.errors import BackendUnavailable, Conflict, IntegrityError, InvalidInput, JackfruitError
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key
from ._s3_common import ObjectBody, S3Reads, server_error, transport_error
from ._streams import read_full

# The same names as the boto3 adapter (s3_store.py); a test keeps them equal. Not imported from there so that
# this adapter does not pull in boto3.
WRITE_ONCE_TAG = "jackfruit-write-once"
SHA_META = "jackfruit-sha256"  # user metadata: the SHA-256 of the object, when known before the upload starts
MIN_PART = 5 * 1024 * 1024  # S3's minimum part size (minio.helpers.MIN_PART_SIZE)
MAX_PART = 5 * 1024 * 1024 * 1024
ABORT_RULE_ID = "jackfruit-abort-incomplete-uploads"
_UNSUPPORTED = {"NotImplemented", "MethodNotAllowed"}
_BOTO3_HINT = ("open the raw bucket with the boto3 adapter instead (JACKFRUIT_OBJECT_STORE=s3 with the endpoint "
               "override), which sends If-None-Match: * on PutObject and CompleteMultipartUpload")


class LifecycleUnsupported(BackendUnavailable):
    """The server does not keep bucket lifecycle rules (e.g. versitygw answers ``NotImplemented``)."""


class JackfruitMinio(Minio):
    """A ``minio.Minio`` that remembers the endpoint it was made for (``endpoint_url``, as boto3's
    ``client.meta.endpoint_url``), so errors can name it without reading the SDK's private state."""

    endpoint_url: str = ""


def make_minio_client(endpoint: str, access_key: str | None, secret_key: str | None, *, region: str | None = None,
                      ca_bundle: str | None = None, session_token: str | None = None,
                      connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0,
                      max_retries: int = 3) -> JackfruitMinio:
    """A minio-py client for ``endpoint`` (``http://host:port`` or ``https://host[:port]``: TLS follows the
    scheme). Requests time out (connect ``connect_timeout_s``, read ``read_timeout_s``) and are retried at most
    ``max_retries`` times with backoff: connection failures always (nothing was sent), read failures and
    500/502/503/504 only for idempotent methods (never the POST that completes a multipart upload).
    ``ca_bundle``: a PEM file of the CAs to trust for ``https://`` (default: $SSL_CERT_FILE, else certifi's).
    Redirects are returned to the SDK, not followed (a signed request cannot follow one).
    ``region`` None lets the SDK ask each bucket's location once."""
    parts = urlsplit(endpoint or "")
    shown = (endpoint or "").rpartition("@")[2]  # never echo user info (it may hold a secret)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"S3 endpoint {shown!r} must start with http:// or https:// and name a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(f"S3 endpoint {parts.scheme}://{parts.hostname} must be scheme://host[:port] only "
                           "(no path, query or user info)")
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise InvalidInput(f"CA bundle {ca_bundle} is not a readable file")
    if max_retries < 0:
        raise InvalidInput("max_retries must be >= 0")
    try:
        port = parts.port
    except ValueError as err:
        raise InvalidInput(f"S3 endpoint {shown!r} has an invalid port") from err
    retries = urllib3.Retry(total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
                            other=0, redirect=False, backoff_factor=0.2, backoff_max=5.0,
                            status_forcelist=(500, 502, 503, 504), raise_on_status=False,
                            respect_retry_after_header=False)
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
                               maxsize=10, retries=retries, cert_reqs="CERT_REQUIRED",
                               ca_certs=ca_bundle or os.environ.get("SSL_CERT_FILE") or certifi.where())
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # IPv6 literal
        netloc = f"[{parts.hostname}]" + ("" if port is None else f":{port}")
    try:
        client = JackfruitMinio(netloc, access_key=access_key or None, secret_key=secret_key if access_key else None,
                                session_token=session_token, secure=parts.scheme == "https", region=region,
                                http_client=http)
    except ValueError as err:
        raise InvalidInput(f"S3 endpoint {parts.scheme}://{netloc} or region {region!r} is invalid: {err}") from None
    client.endpoint_url = f"{parts.scheme}://{netloc}"
    return client


def _endpoint_of(client: Any, endpoint: str | None) -> str:
    return endpoint or str(getattr(client, "endpoint_url", "") or "") or "the S3 endpoint"


def _domain_error(err: BaseException, what: str, endpoint: str, bucket: str, key: str | None) -> JackfruitError:
    """One minio/urllib3 exception as a domain error naming endpoint, bucket and key (never a credential)."""
    if isinstance(err, S3Error):
        return server_error(err.code or "", what, endpoint, bucket, key)
    at = f"{bucket}/{key}" if key is not None else f"bucket {bucket}"
    if isinstance(err, ServerError):
        return BackendUnavailable(f"{what} {at} failed at {endpoint}: HTTP {err.status_code}")
    if isinstance(err, InvalidResponseError):
        return BackendUnavailable(f"{what} {at} failed at {endpoint}: the server gave a non-S3 reply")
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        return transport_error(err.reason, what, endpoint, bucket, key)
    if isinstance(err, ValueError):  # the SDK's own argument checks (bucket name, part size...)
        return InvalidInput(f"{what} {at} at {endpoint}: {err}")
    return transport_error(err, what, endpoint, bucket, key)


_DRIVER_ERRORS = (MinioException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError)
_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError)


def _body(response: Any, where: str, endpoint: str) -> ObjectBody:
    """An object's stream over a urllib3 response (the connection goes back to the pool on close)."""

    def close() -> None:
        response.close()
        response.release_conn()

    return ObjectBody(response.read, close, _TRANSPORT_ERRORS, where, endpoint)


class _HashingReader:
    """``prefix`` then the rest of ``stream``, hashed and counted as the SDK reads it. An exception of the
    caller's stream is kept (``error``) so ``put`` can re-raise it as it came."""

    def __init__(self, prefix: bytes, stream: BinaryIO | None) -> None:
        self._prefix, self._stream = io.BytesIO(prefix), stream
        self.digest, self.size = hashlib.sha256(), 0
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        data = self._prefix.read(n)
        if not data and self._stream is not None:
            try:
                data = bytes(self._stream.read(n))
            except Exception as err:
                self.error = err
                raise
        self.digest.update(data)
        self.size += len(data)
        return data


class MinioBucketAdmin:
    """Bucket administration for ``jackfruit storage init`` (works before the bucket exists)."""

    def __init__(self, client: Minio, *, endpoint: str | None = None) -> None:
        self.client = client
        self.endpoint = _endpoint_of(client, endpoint)

    def _call(self, what: str, bucket: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _DRIVER_ERRORS as err:
            raise _domain_error(err, what, self.endpoint, bucket, None) from err

    def ensure_bucket(self, name: str) -> bool:
        """Create bucket ``name`` unless it exists; True when this call created it."""
        if self._call("checking", name, self.client.bucket_exists, name):
            return False
        try:
            self.client.make_bucket(name)
        except S3Error as err:
            if err.code == "BucketAlreadyOwnedByYou":
                return False  # made meanwhile by another `storage init`
            if err.code == "BucketAlreadyExists":
                if self._call("checking", name, self.client.bucket_exists, name):
                    return False
                raise Conflict(f"bucket name {name} is taken at {self.endpoint} by another account") from err
            raise _domain_error(err, "creating", self.endpoint, name, None) from err
        except _DRIVER_ERRORS as err:
            raise _domain_error(err, "creating", self.endpoint, name, None) from err
        return True

    def set_abort_incomplete_uploads(self, name: str, days: int = 1) -> None:
        """Give bucket ``name`` the lifecycle rule AbortIncompleteMultipartUpload after ``days`` days (rule id
        ``jackfruit-abort-incomplete-uploads``; other rules are kept), then read it back. A server without
        lifecycle support, or one that accepts the rule and does not keep it, raises ``LifecycleUnsupported``."""
        if days < 1:
            raise InvalidInput(f"the abort-incomplete-uploads rule of bucket {name} needs days >= 1, not {days}")
        try:
            current = self.client.get_bucket_lifecycle(name)
            rules = [r for r in (current.rules if current else []) if r.rule_id != ABORT_RULE_ID]
            rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=ABORT_RULE_ID,
                              abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days)))
            self.client.set_bucket_lifecycle(name, LifecycleConfig(rules))
            kept = self.client.get_bucket_lifecycle(name)
        except S3Error as err:
            if err.code in _UNSUPPORTED or err.response.status in (405, 501):
                raise LifecycleUnsupported(
                    f"the S3 server at {self.endpoint} does not support bucket lifecycle rules ({err.code}): "
                    f"bucket {name} gets no AbortIncompleteMultipartUpload rule, so incomplete multipart uploads "
                    "stay until removed by hand (the boto3 adapter's sweep_partials lists and aborts them)") from err
            raise _domain_error(err, "setting the lifecycle of", self.endpoint, name, None) from err
        except _DRIVER_ERRORS as err:
            raise _domain_error(err, "setting the lifecycle of", self.endpoint, name, None) from err
        ours = [r for r in (kept.rules if kept else []) if r.rule_id == ABORT_RULE_ID]
        if not ours or ours[0].abort_incomplete_multipart_upload is None or \
                ours[0].abort_incomplete_multipart_upload.days_after_initiation != days:
            raise LifecycleUnsupported(f"the S3 server at {self.endpoint} accepted the lifecycle rule of bucket "
                                       f"{name} but does not keep it: incomplete multipart uploads are not "
                                       "aborted automatically")


class MinioObjectStore(S3Reads):
    """One mutable bucket through minio-py. See the module docstring for why write-once buckets are refused."""

    def __init__(self, client: Minio, bucket: str, *, write_once: bool | None = None,
                 part_size: int = 16 * 1024 * 1024, concurrency: int = 3, endpoint: str | None = None) -> None:
        """``write_once=True``, or a bucket tagged ``jackfruit-write-once=true``: refused (``InvalidInput``).
        ``part_size``: parts of a multipart upload (5 MiB..5 GiB); at most ``concurrency`` parts in flight.
        ``endpoint`` names the server in errors (default: what ``make_minio_client`` recorded).
        The bucket must exist (``jackfruit storage init`` creates it)."""
        self.client, self.bucket = client, bucket
        self.endpoint = _endpoint_of(client, endpoint)
        if write_once:
            raise InvalidInput(f"MinioObjectStore cannot open bucket {bucket} at {self.endpoint} write-once: "
                               f"{_WHY}; {_BOTO3_HINT}")
        if not MIN_PART <= part_size <= MAX_PART:
            raise InvalidInput(f"S3 part size {part_size} is outside 5 MiB..5 GiB (S3 multipart limits)")
        if concurrency < 1:
            raise InvalidInput("S3 upload concurrency must be >= 1")
        self.part_size, self.concurrency = part_size, concurrency
        self.admin = MinioBucketAdmin(client, endpoint=self.endpoint)
        tags = self._call("reading the tags of", None, client.get_bucket_tags, bucket)
        if tags is not None and tags.get(WRITE_ONCE_TAG) == "true":
            raise InvalidInput(f"bucket {bucket} at {self.endpoint} is write-once (tagged {WRITE_ONCE_TAG}=true, "
                               f"raw evidence) and MinioObjectStore cannot keep it so: {_WHY}; {_BOTO3_HINT}")
        self.write_once = False

    # -- errors ---------------------------------------------------------------------------------------------
    def _call(self, what: str, key: str | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _DRIVER_ERRORS as err:
            raise _domain_error(err, what, self.endpoint, self.bucket, key) from err

    # -- bucket administration (also usable before the bucket exists: MinioBucketAdmin) ----------------------
    def ensure_bucket(self, name: str) -> bool:
        return self.admin.ensure_bucket(name)

    def set_abort_incomplete_uploads(self, name: str, days: int = 1) -> None:
        self.admin.set_abort_incomplete_uploads(name, days)

    # -- writes ---------------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        check_object_key(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            body = bytes(data)
            sha = hashlib.sha256(body).hexdigest()
            self._upload(key, _HashingReader(body, None), len(body), sha)
            return ObjectInfo(key, len(body), sha)
        first = read_full(data, self.part_size + 1)
        if len(first) <= self.part_size:  # one part: the digest is known before the upload, so it is recorded
            sha = hashlib.sha256(first).hexdigest()
            self._upload(key, _HashingReader(first, None), len(first), sha)
            return ObjectInfo(key, len(first), sha)
        reader = _HashingReader(first, data)  # multipart of unknown length: hashed while streaming
        del first
        self._upload(key, reader, -1, None)
        return ObjectInfo(key, reader.size, reader.digest.hexdigest())

    def put_file(self, key: str, path: str) -> ObjectInfo:
        check_object_key(key)
        try:
            f = open(path, "rb")
        except OSError as err:
            raise InvalidInput(f"cannot read {path} to store it as {self.bucket}/{key}: {err.strerror}") from err
        with f:
            digest = hashlib.sha256()  # a first pass: the digest goes into the object's metadata
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
            size, sha = f.tell(), digest.hexdigest()
            f.seek(0)
            reader = _HashingReader(b"", f)
            try:
                self._upload(key, reader, size, sha)
            except BackendUnavailable as err:
                if os.fstat(f.fileno()).st_size != size:
                    raise IntegrityError(f"{path} changed while it was stored as {self.bucket}/{key}") from err
                raise
        if reader.digest.hexdigest() != sha:  # the file changed between the two passes
            self._call("delete", key, self.client.remove_object, self.bucket, key)
            raise IntegrityError(f"{path} changed while it was stored as {self.bucket}/{key}; the object was removed")
        os.unlink(path)
        return ObjectInfo(key, size, sha)

    def _upload(self, key: str, reader: _HashingReader, length: int, sha: str | None) -> None:
        try:
            self.client.put_object(self.bucket, key, reader, length, metadata={SHA_META: sha} if sha else None,
                                   part_size=self.part_size, num_parallel_uploads=self.concurrency)
        except BaseException as err:
            if reader.error is not None:  # the caller's stream failed: its own exception, as it came
                raise reader.error from None
            if isinstance(err, _DRIVER_ERRORS):
                raise _domain_error(err, "put", self.endpoint, self.bucket, key) from err
            raise

    # -- reads ----------------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        check_object_key(key)
        response = self._call("get", key, self.client.get_object, self.bucket, key)
        body = _body(response, f"{self.bucket}/{key}", self.endpoint)
        return io.BufferedReader(body, 1 << 20)  # type: ignore[return-value]

    def _ranged(self, key: str, start: int, length: int | None) -> bytes:
        try:
            response = self.client.get_object(self.bucket, key, offset=start, length=length or 0)
        except S3Error as err:
            if err.code == "InvalidRange" or err.response.status == 416:
                return b""  # the object exists and ends before ``start``
            raise _domain_error(err, "ranged get", self.endpoint, self.bucket, key) from err
        except _DRIVER_ERRORS as err:
            raise _domain_error(err, "ranged get", self.endpoint, self.bucket, key) from err
        with io.BufferedReader(_body(response, f"{self.bucket}/{key}", self.endpoint)) as f:
            return f.read()

    def head(self, key: str) -> ObjectInfo:
        check_object_key(key)
        stat = self._call("head", key, self.client.stat_object, self.bucket, key)
        meta = stat.metadata or {}
        return ObjectInfo(key, int(stat.size or 0), meta.get(f"x-amz-meta-{SHA_META}"))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        def fetch() -> list[ObjectInfo]:
            return [ObjectInfo(str(o.object_name), int(o.size or 0))
                    for o in self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True,
                                                      include_version=False)
                    if not o.is_dir]

        items = self._call(f"listing prefix {prefix!r} of", None, fetch)
        return iter(sorted(items, key=lambda i: i.key))

    def delete(self, key: str) -> None:
        check_object_key(key)
        self.head(key)  # NotFound for a missing key, as the port says (S3's DELETE does not tell)
        self._call("delete", key, self.client.remove_object, self.bucket, key)

    def sweep_partials(self, ended_attempts: Collection[str], idle_keys: Collection[str] = ()) -> int:
        """Aborts nothing, returns 0: minio-py's public API cannot list or abort multipart uploads
        (``_list_multipart_uploads`` and ``_abort_multipart_upload`` are private), so this store cannot identify
        a staged upload -- of an ended attempt or at an idle key -- and it never touches what it cannot
        identify. Its own failed uploads are aborted by the SDK (``put_object`` aborts on an ``Exception``);
        uploads left by a killed process stay until the bucket's AbortIncompleteMultipartUpload rule
        (``set_abort_incomplete_uploads``, where the server supports it) or the boto3 adapter's
        ``S3ObjectStore.sweep_partials`` on the same bucket removes them."""
        return 0


_WHY = ("minio-py's public API cannot send If-None-Match: * (put_object turns it into the user metadata "
        "x-amz-meta-if-none-match and the server overwrites; its multipart calls are private), so the server "
        "could not refuse a second write")
