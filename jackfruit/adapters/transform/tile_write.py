"""Building one tile: its data array encoded shard by shard (the zarrs codec pipeline on a ``LocalStore`` in
scratch), each finished file uploaded through the ``ObjectStore`` port while the next shard encodes, the
manifest last (a tile without it is incomplete). Layout and codecs: docs/adr/0005 and docs/adr/0006."""

from __future__ import annotations

import ctypes
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
#: one shard is encoded at a time in the process: zarrs already spreads a shard's chunks over every core, and
#: a second encode at once only adds its working set (zarrs' own copy of the slab and the encoded shard: ~40 MB
#: on a 0.4 degree global grid); a tile decodes its next slab while another tile's shard encodes
_encode_lock = threading.Lock()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim(0)``, or None elsewhere. zarrs frees its per-shard buffers (tens of MB) from
    several threads; glibc keeps such freed blocks in its per-thread arenas (its mmap threshold rises to the
    largest block freed), measured at ~200 MB of a 0.4 degree global transform's peak RSS. Trimming once per
    shard hands them back."""
    try:  # the symbols the process has loaded (no ``find_library``: it runs ldconfig in a child process)
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


_trim = _malloc_trim()
#: trim only after shards of slabs this big or bigger: the pages handed back are faulted in again by the next
#: shard (+25 % CPU on a CAMS Europe day, 700 x 420 points: 16 lead times are 18.8 MB), and below this size what
#: glibc keeps stays inside the 400 MiB budget (CAMS Europe: peak 309-327 MiB untrimmed); a 0.4 degree global
#: slab (26 MB) untrimmed peaked at 540-605 MiB (docs/benchmarks.md)
TRIM_FROM_BYTES = 24 << 20

#: slabs this big or bigger (a 0.4 degree global grid's) are "big": the process holds at most ``BIG_SLABS`` of them
#: at once, whatever the number of tiles being written. A tile takes one before its first decode (waiting for it)
#: and a second if one is free (then its next slab decodes while this one encodes), and gives them back after its
#: last encode: a tile uploading its last shard and manifest holds none, and the next tile starts beside it
DECODE_AHEAD_FROM_BYTES = 24 << 20
BIG_SLABS = 2
_big_slabs = threading.BoundedSemaphore(BIG_SLABS)

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
    """Build the tile shard by shard: each shard's lead times are decoded into the tile's slab buffer, then
    encoded (zarrs, all cores, one shard at a time in the process: while it encodes, another tile written at
    the same time decodes its next slab), and uploaded in another thread while the next slab decodes. Memory
    holds one slab of the grid per tile being written (big slabs: ``BIG_SLABS`` in all) and one shard being
    encoded, whatever the number of lead times or the size of the file. Returns (total bytes, SHA-256 of the
    manifest)."""
    (j0, j1), (i0, i1) = cell.rows, cell.cols
    n = len(group.steps)
    shape = (n, j1 - j0, i1 - i0)
    chunks = tuple(min(c, s) for c, s in zip(chunk, shape))
    shards = (chunks[0],) + tuple(-(-s // c) * c for s, c in zip(shape[1:], chunks[1:]))
    held = [0]  # big slabs this tile holds (``_big_slabs``)
    buffers: list[np.ndarray] = []

    def give_back() -> None:
        buffers.clear()
        for _ in range(held[0]):
            _big_slabs.release()
        held[0] = 0

    folder = tempfile.mkdtemp(prefix="tile-", dir=scratch)
    try:
        with _zarrs_pipeline():
            data = zarr.open_group(LocalStore(folder), mode="w-", zarr_format=3,
                                   attributes=dict(root_attrs)).create_array(
                group.variable, shape=shape, dtype="float32", chunks=chunks, shards=shards,
                compressors=list(compressors), fill_value=np.nan,
                dimension_names=("step", "latitude", "longitude"), attributes=dict(array_attrs))

        # one slab buffer, reused for every shard (fresh 19 MB arrays per slab cost more in page faults and
        # zeroing than the decode itself); the decode of the next slab overlaps the upload of this shard and
        # the encode of another tile's. Big slabs (a 0.4 degree global grid) are counted across tiles
        # (``BIG_SLABS``): a tile holding two decodes its next slab while this one encodes (docs/benchmarks.md)
        grid = group.grid
        depth = min(shards[0], n)
        if depth * grid.ny * grid.nx * 4 >= DECODE_AHEAD_FROM_BYTES:
            _big_slabs.acquire()
            held[0] = 1 + (n > depth and _big_slabs.acquire(blocking=False))
        ahead = held[0] == 2
        buffers.extend(np.empty((depth, grid.ny, grid.nx), dtype=np.float32) for _ in range(2 if ahead else 1))

        def slab(k0: int) -> np.ndarray:
            out = buffers[(k0 // shards[0]) % len(buffers)]
            block = values(k0, min(k0 + shards[0], n), out=out)[:, j0:j1, i0:i1]
            return np.ascontiguousarray(block, dtype=np.float32)

        uploaded: dict[str, Any] = {}
        starts = list(range(0, n, shards[0]))
        with (ThreadPoolExecutor(1, thread_name_prefix="tile-upload") as upload,
              ThreadPoolExecutor(1, thread_name_prefix="tile-decode") as decode):
            following = None
            try:
                following = decode.submit(slab, starts[0]) if ahead else None
                for i, k0 in enumerate(starts):
                    if following is None:
                        block = slab(k0)
                    else:  # the next slab decodes into the other buffer while this one encodes
                        block = following.result()
                        following = decode.submit(slab, starts[i + 1]) if i + 1 < len(starts) else None
                    with _encode_lock, _zarrs_pipeline():
                        data[k0:k0 + block.shape[0]] = block
                        if _trim is not None and block.nbytes >= TRIM_FROM_BYTES:
                            # ~3 ms (0.13 CPU s for 44 shards); under the lock, so it never hands back pages
                            # another tile's encode is about to reuse (not settled by measurement: the full-size
                            # global day took 44.3 and 75.6 CPU s with it outside, 53.4 inside, on a loaded machine)
                            _trim(0)
                    del block
                    for rel in files(folder):
                        if rel not in uploaded:
                            uploaded[rel] = upload.submit(_upload_file, folder, rel, store, key)
                give_back()  # encoded: the slabs' memory is free for the next tile while this one uploads
                entries = [(rel, *uploaded[rel].result()) for rel in sorted(uploaded)]
            except BaseException:
                for future in uploaded.values():
                    future.cancel()
                if following is not None:
                    following.cancel()
                    try:
                        following.result()  # a decode still writing into a buffer is not given back under it
                    except BaseException:  # noqa: BLE001 - the first error is the one raised
                        pass
                raise
        manifest = manifest_bytes(entries)
        info = store.put(f"{key}/{MANIFEST}", manifest)  # last: a tile without it is incomplete
        return sum(e[1] for e in entries) + info.size, hashlib.sha256(manifest).hexdigest()
    finally:
        give_back()
        shutil.rmtree(folder, ignore_errors=True)


def _upload_file(folder: str, rel: str, store: ObjectStore, key: str) -> tuple[int, str]:
    """One built file through the port (atomic and durable on its own, hashed by the store); the store
    consumes the scratch file (moves it into place when it can), so scratch holds a shard or two."""
    info = store.put_file(f"{key}/{rel}", os.path.join(folder, *rel.split("/")))
    if info.sha256 is None:
        raise IntegrityError(f"store {store.bucket} did not report the SHA-256 of {key}/{rel}")
    return info.size, info.sha256
