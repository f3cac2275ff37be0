"""What the two S3 adapters (boto3: ``s3_store``, minio-py: ``minio_store``) share: the rule mapping an S3
error code to a domain error, the object body whose transport failures become ``BackendUnavailable``, and
the reads both answer alike over their own ``open``, ``head`` and ranged request (``S3Reads``).

Driver-free: each adapter extracts the code from its SDK's exception and passes the SDK's transport
exception types. Every message names the endpoint, bucket and key, never a credential.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO, Callable

from jackfruit.domain.errors import BackendUnavailable, InvalidInput, JackfruitError, NotFound
from jackfruit.ports.storage import ObjectInfo

from ._keys import check_object_key

#: codes (or, where the reply had none, HTTP statuses) of a missing object
NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
#: credentials or permission refused
DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                    "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed"})
#: a name the server refuses
INVALID = frozenset({"InvalidBucketName", "KeyTooLongError"})


def where(bucket: str, key: str | None) -> str:
    return f"{bucket}/{key}" if key is not None else f"bucket {bucket}"


def server_error(code: str, what: str, endpoint: str, bucket: str, key: str | None) -> JackfruitError:
    """An S3 error reply (its code) as a domain error."""
    at = where(bucket, key)
    if code == "NoSuchBucket":
        return BackendUnavailable(f"{what} {at}: bucket {bucket} does not exist at {endpoint} "
                                  "(`jackfruit storage init` creates it)")
    if code in NOT_FOUND:
        return NotFound(f"{at} does not exist")
    if code in INVALID:
        return InvalidInput(f"{what} {at} at {endpoint}: the server refused the name ({code})")
    if code in DENIED:
        return BackendUnavailable(f"{what} {at}: the server at {endpoint} refused the credentials or the "
                                  f"permission ({code})")
    return BackendUnavailable(f"{what} {at} failed at {endpoint}: {code or 'error'}")


def transport_error(err: BaseException, what: str, endpoint: str, bucket: str, key: str | None) -> BackendUnavailable:
    """No S3 reply (connection, timeout, a broken response): the exception's type only, never its text."""
    return BackendUnavailable(f"{what} {where(bucket, key)} failed: {type(err).__name__} talking to {endpoint}")


class ObjectBody(io.RawIOBase):
    """An object's stream over an SDK's response: ``read(n)`` returns the response's own bytes (not copied
    again); a transport failure mid-read becomes ``BackendUnavailable`` naming the object and endpoint."""

    def __init__(self, read: Callable[[int | None], bytes], close: Callable[[], None],
                 transport_errors: tuple[type[BaseException], ...], where: str, endpoint: str) -> None:
        self._read, self._close, self._errors = read, close, transport_errors
        self._where, self._endpoint = where, endpoint

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._read(None if size is None or size < 0 else size)
        except self._errors as err:
            raise BackendUnavailable(f"reading {self._where} from {self._endpoint} failed: "
                                     f"{type(err).__name__}") from err

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


class S3Reads:
    """``get``, ``get_range``, ``exists`` and ``local_path`` of an S3 store, over the store's ``open``, ``head``
    and ``_ranged(key, start, length)`` (a ranged GET; ``b""`` where the object ends before ``start``)."""

    bucket: str

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def head(self, key: str) -> ObjectInfo:
        raise NotImplementedError

    def _ranged(self, key: str, start: int, length: int | None) -> bytes:
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def get_range(self, key: str, start: int, length: int | None = None) -> bytes:
        check_object_key(key)
        if start < 0 or (length is not None and length < 0):
            raise InvalidInput(f"range start {start} / length {length} of {self.bucket}/{key} must not be negative")
        if length == 0:
            self.head(key)  # NotFound for a missing key, as for any other length
            return b""
        return self._ranged(key, start, length)

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except NotFound:
            return False
        return True

    def local_path(self, key: str) -> str | None:
        self.head(key)
        return None
