"""Key checks shared by the object-store adapters (keys must not escape their bucket)."""

from __future__ import annotations

from jackfruit.domain.errors import InvalidInput


def check_object_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"object key {key!r} is empty")
    if key.startswith("/") or key.endswith("/") or key.startswith("."):
        raise InvalidInput(f"object key {key!r} must not start with '/' or '.', nor end with '/'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in key):
        raise InvalidInput(f"object key {key!r} contains control characters or backslashes")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidInput(f"object key {key!r} has an empty, '.' or '..' part")
    return key
