"""A tile's manifest and its verification (docs/adr/0004-verified-tiles.md).

Since transformation version 2 a tile ends with ``manifest.json`` (every other object's relative key, size
and SHA-256), and the catalog's ``Tile.sha256`` is the SHA-256 of that manifest object. Version-1 tiles have
no manifest object: their checksum is the SHA-256 of ``"<relative key> <size> <sha256>\\n"`` lines, sorted
(``manifest_digest``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

from jackfruit.domain.errors import IntegrityError, NotFound
from jackfruit.domain.model import Tile
from jackfruit.ports.storage import ObjectStore

from .zarr_store import TILE_MANIFEST

MANIFEST = TILE_MANIFEST
MANIFEST_FORMAT = "jackfruit-tile-manifest/1"


def manifest_digest(entries: Sequence[tuple[str, int, str]]) -> str:
    lines = "".join(f"{key} {size} {sha}\n" for key, size, sha in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def manifest_bytes(entries: Sequence[tuple[str, int, str]]) -> bytes:
    """The canonical manifest object: sorted keys, no spaces, objects sorted by key."""
    doc = {"format": MANIFEST_FORMAT,
           "objects": [{"key": k, "sha256": sha, "size": size} for k, size, sha in sorted(entries)]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def parse_manifest(tile_key: str, body: bytes) -> dict[str, tuple[int, str]]:
    try:
        doc = json.loads(body)
        if doc.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        return {o["key"]: (int(o["size"]), str(o["sha256"])) for o in doc["objects"]}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise IntegrityError(f"tile {tile_key}: object {MANIFEST} is not a tile manifest ({err})") from None


def tile_entries(store: ObjectStore, key: str, sha256: str) -> dict[str, tuple[int, str]]:
    """The tile's objects (relative key -> size, sha256), checked against the catalog's digest."""
    try:
        body = store.get(f"{key}/{MANIFEST}")
    except NotFound:
        return _entries_v1(store, key, sha256)
    got = hashlib.sha256(body).hexdigest()
    if got != sha256:
        raise IntegrityError(f"tile {key}: object {MANIFEST} has sha256 {got}; the catalog recorded {sha256}")
    return parse_manifest(key, body)


def _entries_v1(store: ObjectStore, key: str, sha256: str) -> dict[str, tuple[int, str]]:
    """No manifest object: a version-1 tile, whose catalog digest covers every object (``manifest_digest``).
    Hash them all and compare; a later tile that lost its manifest fails here too."""
    entries = []
    for info in store.list(key + "/"):
        rel = info.key[len(key) + 1:]
        try:
            body = store.get(info.key)
        except NotFound:
            raise IntegrityError(f"tile {key}: object {rel} vanished while the tile was being checked") from None
        entries.append((rel, len(body), hashlib.sha256(body).hexdigest()))
    if not entries:
        raise IntegrityError(f"tile {key}: object {MANIFEST} is missing, and so is every other object of the tile")
    got = manifest_digest(entries)
    if got != sha256:
        raise IntegrityError(f"tile {key}: object {MANIFEST} is missing, and as a version-1 tile (no manifest) "
                             f"its {len(entries)} objects hash to {got}, not the catalog's {sha256}")
    return {rel: (size, sha) for rel, size, sha in entries}


def verify_tile(store: ObjectStore, tile: Tile) -> list[str]:
    """Every problem of one tile (empty = intact): manifest digest, each object's presence, size and SHA-256
    (shards re-hashed whole), objects the manifest does not list. Raises only ``BackendUnavailable``."""
    try:
        entries = tile_entries(store, tile.key, tile.sha256)
    except IntegrityError as err:
        return [str(err)]
    problems = []
    present = {info.key[len(tile.key) + 1:] for info in store.list(tile.key + "/")}
    for rel, (size, sha) in sorted(entries.items()):
        try:
            body = store.get(f"{tile.key}/{rel}")
        except NotFound:
            problems.append(f"tile {tile.key}: object {rel} is missing")
            continue
        got = hashlib.sha256(body).hexdigest()
        if (len(body), got) != (size, sha):
            problems.append(f"tile {tile.key}: object {rel} is {len(body)} bytes sha256 {got}; the manifest "
                            f"says {size} bytes sha256 {sha}")
    for rel in sorted(present - set(entries) - {MANIFEST}):
        problems.append(f"tile {tile.key}: object {rel} is not in the tile's manifest")
    return problems
