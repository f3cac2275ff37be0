"""Key checks shared by the object-store adapters (keys must not escape their bucket)."""

from __future__ import annotations

import re

from jackfruit.domain.errors import InvalidInput

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")


def check_object_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"object key {key!r} is empty")
    if key.startswith("/") or key.endswith("/") or key.startswith("."):
        raise InvalidInput(f"object key {key!r} must not start with '/' or '.', nor end with '/'")
    if _FORBIDDEN.search(key):
        raise InvalidInput(f"object key {key!r} contains control characters or backslashes")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidInput(f"object key {key!r} has an empty, '.' or '..' part")
    return key
