"""Building one tile: its data array encoded shard by shard (the zarrs codec pipeline on a ``LocalStore`` in
scratch), each finished file uploaded through the ``ObjectStore`` port while the next shard encodes, the
manifest last (a tile without it is incomplete). Layout and codecs: docs/adr/0005 and docs/adr/0006."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec
from zarr.storage import LocalStore

from jackfruit.domain.errors import IntegrityError
from jackfruit.domain.tiling import Cell, TileGroup
from jackfruit.ports.storage import ObjectStore

from .tile_manifest import MANIFEST, manifest_bytes

#: Blosc LZ4 with byte shuffle: lossless, 2.1x on the real CAMS fields (zstd-1: 2.6x at twice the encode
#: and three times the decode time); the table in docs/benchmarks.md, the choice in docs/adr/0006
COMPRESSORS: tuple[Any, ...] = (BloscCodec(cname="lz4", clevel=1, shuffle=BloscShuffle.shuffle), Crc32cCodec())
#: inner chunk of the data array: 16 lead times x 35 rows x 70 columns; one shard per 16 lead times covering
#: the whole grid (docs/adr/0006-lead-time-shards.md)
CHUNK = (16, 35, 70)
#: tiles are encoded by the zarrs codec pipeline (Rust, parallel) on a LocalStore; strict: never a silent
#: fallback to the slower default pipeline
ZARRS = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline", "codec_pipeline.strict": True}
_zarrs_lock = threading.Lock()
_zarrs_users: list[Any] = []  # the open ``zarr.config.set`` while any write is building a tile

#: lead times ``[k0, k1)`` of a tile group's messages, decoded: float32 ``(k1 - k0, ny, nx)`` on the group's grid
SlabSource = Callable[..., Any]


@contextmanager
def _zarrs_pipeline() -> Iterator[None]:
    """Selects the zarrs pipeline while at least one tile is being built, from any thread. ``zarr.config`` is
    process-global: a plain ``config.set`` per write would, on exit, restore the default under another
    write still running."""
    with _zarrs_lock:
        if not _zarrs_users:
            ctx = zarr.config.set(ZARRS)
            ctx.__enter__()
            _zarrs_users.append(ctx)
        _zarrs_users.append(None)
    try:
        yield
    finally:
        with _zarrs_lock:
            _zarrs_users.pop()
            if len(_zarrs_users) == 1:
                _zarrs_users.pop().__exit__(None, None, None)


def files(folder: str) -> list[str]:
    """Relative ``/``-separated paths of the files under ``folder``."""
    out = []
    for dirpath, _, names in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        out.extend(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/") for name in names)
    return out


def write_tile(store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: SlabSource, scratch: str, *,
               root_attrs: Mapping[str, Any], array_attrs: Mapping[str, Any], chunk: tuple[int, int, int] = CHUNK,
               compressors: tuple[Any, ...] = COMPRESSORS) -> tuple[int, str]:
    """Build the tile shard by shard: while one shard's lead times are encoded (zarrs, all cores), the next
    ones decode in another thread and the shard before is uploaded in a third. Memory holds about three
    slabs of the grid, whatever the number of lead times or the size of the file. Returns (total bytes,
    SHA-256 of the manifest)."""
    (j0, j1), (i0, i1) = cell.rows, cell.cols
    n = len(group.steps)
    shape = (n, j1 - j0, i1 - i0)
    chunks = tuple(min(c, s) for c, s in zip(chunk, shape))
    shards = (chunks[0],) + tuple(-(-s // c) * c for s, c in zip(shape[1:], chunks[1:]))
    folder = tempfile.mkdtemp(prefix="tile-", dir=scratch)
    try:
        with _zarrs_pipeline():
            data = zarr.open_group(LocalStore(folder), mode="w", zarr_format=3,
                                   attributes=dict(root_attrs)).create_array(
                group.variable, shape=shape, dtype="float32", chunks=chunks, shards=shards,
                compressors=list(compressors), fill_value=np.nan,
                dimension_names=("step", "latitude", "longitude"), attributes=dict(array_attrs))

        # two slab buffers, reused: one being encoded while the next lead times decode into the other
        # (fresh 19 MB arrays per slab cost more in page faults and zeroing than the decode itself)
        grid = group.grid
        buffers = [np.empty((min(shards[0], n), grid.ny, grid.nx), dtype=np.float32) for _ in range(2)]

        def slab(k0: int) -> np.ndarray:
            out = buffers[(k0 // shards[0]) % 2]
            block = values(k0, min(k0 + shards[0], n), out=out)[:, j0:j1, i0:i1]
            return np.ascontiguousarray(block, dtype=np.float32)

        uploaded: dict[str, Any] = {}
        with ThreadPoolExecutor(1, thread_name_prefix="tile-decode") as decode, \
                ThreadPoolExecutor(1, thread_name_prefix="tile-upload") as upload:
            try:
                ahead = decode.submit(slab, 0)
                for k0 in range(0, n, shards[0]):
                    block = ahead.result()
                    if k0 + shards[0] < n:
                        ahead = decode.submit(slab, k0 + shards[0])
                    with _zarrs_pipeline():
                        data[k0:k0 + block.shape[0]] = block
                    del block
                    for rel in files(folder):
                        if rel not in uploaded:
                            uploaded[rel] = upload.submit(_upload_file, folder, rel, store, key)
                entries = [(rel, *uploaded[rel].result()) for rel in sorted(uploaded)]
            except BaseException:
                for future in uploaded.values():
                    future.cancel()
                raise
        manifest = manifest_bytes(entries)
        info = store.put(f"{key}/{MANIFEST}", manifest)  # last: a tile without it is incomplete
        return sum(e[1] for e in entries) + info.size, hashlib.sha256(manifest).hexdigest()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _upload_file(folder: str, rel: str, store: ObjectStore, key: str) -> tuple[int, str]:
    """One built file through the port (atomic and durable on its own, hashed by the store); the store
    consumes the scratch file (moves it into place when it can), so scratch holds a shard or two."""
    info = store.put_file(f"{key}/{rel}", os.path.join(folder, *rel.split("/")))
    if info.sha256 is None:
        raise IntegrityError(f"store {store.bucket} did not report the SHA-256 of {key}/{rel}")
    return info.size, info.sha256
