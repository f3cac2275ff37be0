"""ShardedArray: reads the data arrays of jackfruit tiles straight from their shards, fetching only the
chunks a window needs.

A tile's data array is a Zarr v3 array with the ``sharding_indexed`` codec (written by zarr's public API,
docs/adr/0006-lead-time-shards.md). This module reads that on-disk format as the Zarr v3 specification
defines it (https://zarr-specs.readthedocs.io/en/latest/v3/codecs/sharding-indexed/): the shard index at the
end of the shard object (``(offset, nbytes)`` little-endian uint64 per inner chunk, C order, then crc32c),
each inner chunk ``bytes(little) -> blosc -> crc32c``. It uses only public APIs (``numcodecs.Blosc``,
``google_crc32c``) and no zarr internals. Why not zarr's own reader: its per-call cost (about 4 ms for the
13 chunks of a point series, an event-loop round trip, the shard index re-read on every call) is larger than
the whole read should be. Arrays with any other layout or codec chain are not accepted here
(``from_metadata`` returns None) and are read by zarr.

Every byte is checked: the index and each chunk by their crc32c, the index entries against the object's size
from the tile's manifest; a failure is ``IntegrityError`` naming the tile and object.
"""

from __future__ import annotations

import itertools
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import google_crc32c
import numcodecs
import numpy as np

from jackfruit.domain.errors import IntegrityError

_EMPTY = 2**64 - 1  # both offset and nbytes of an inner chunk never written (all fill value)
_BYTES_LE = {"name": "bytes", "configuration": {"endian": "little"}}
_CRC32C = {"name": "crc32c"}
#: merge two chunk ranges of one shard into one request when at most this many bytes lie between them
_GAP = 256 * 1024
_POOL = ThreadPoolExecutor(8, thread_name_prefix="tile-read")

#: ``(relative key, start, length) -> bytes`` of a tile object, served only if the manifest lists it
RangeReader = Callable[[str, int, int], bytes]


def _crc_ok(body: bytes | memoryview) -> bool:
    return len(body) >= 4 and google_crc32c.value(bytes(body[:-4])) == struct.unpack("<I", body[-4:])[0]


@dataclass
class ShardedArray:
    """One sharded float32 array of a tile, read window by window. ``sizes``: relative key -> size of every
    object the tile's manifest lists (a shard it does not list was never written: all fill value)."""

    tile_key: str
    path: str  # the array's folder in the tile, e.g. "ozone"
    shape: tuple[int, ...]
    shard: tuple[int, ...]
    chunk: tuple[int, ...]
    fill: float
    sizes: Mapping[str, int]
    read_range: RangeReader
    actual_size: Callable[[str], int]  # the stored object's size (to name a truncated or extended shard)
    concurrent: bool  # fetch several ranges at once (a remote store); a local one reads them in turn

    def __post_init__(self) -> None:
        self._per_shard = tuple(s // c for s, c in zip(self.shard, self.chunk))
        self._n = int(np.prod(self._per_shard))
        self._indexes: dict[str, np.ndarray] = {}
        self._blosc = numcodecs.Blosc()

    @classmethod
    def from_metadata(cls, tile_key: str, path: str, meta: Mapping[str, Any], sizes: Mapping[str, int],
                      read_range: RangeReader, actual_size: Callable[[str], int],
                      concurrent: bool) -> "ShardedArray | None":
        """The reader for an array whose ``zarr.json`` is ``meta``, or None when its layout is not the one
        this module reads (zarr reads it then)."""
        try:
            if meta.get("zarr_format") != 3 or meta.get("data_type") != "float32":
                return None
            if meta.get("chunk_key_encoding") != {"name": "default", "configuration": {"separator": "/"}}:
                return None
            if meta.get("storage_transformers") not in (None, []) or meta["chunk_grid"]["name"] != "regular":
                return None
            (codec,) = meta["codecs"]
            conf = codec["configuration"]
            if codec["name"] != "sharding_indexed" or conf.get("index_location", "end") != "end":
                return None
            inner = conf["codecs"]
            if len(inner) != 3 or inner[0] != _BYTES_LE or inner[1]["name"] != "blosc" or inner[2] != _CRC32C:
                return None
            if conf["index_codecs"] != [_BYTES_LE, _CRC32C]:
                return None
            shape = tuple(int(n) for n in meta["shape"])
            shard = tuple(int(n) for n in meta["chunk_grid"]["configuration"]["chunk_shape"])
            chunk = tuple(int(n) for n in conf["chunk_shape"])
            if len(shape) != 3 or len(shard) != 3 or len(chunk) != 3 or any(s % c for s, c in zip(shard, chunk)):
                return None
            fill = float(meta["fill_value"]) if meta["fill_value"] not in ("NaN", None) else float("nan")
        except (KeyError, TypeError, ValueError):
            return None
        return cls(tile_key, path, shape, shard, chunk, fill, sizes, read_range, actual_size, concurrent)

    # -- reading -------------------------------------------------------------------------------------------------
    def read(self, k: tuple[int, int], j: tuple[int, int], i: tuple[int, int]) -> np.ndarray:
        """Values ``[k0:k1, j0:j1, i0:i1]`` as float32, fetching only the chunks that hold them."""
        return self.read_columns(k, j, [i])

    def read_columns(self, k: tuple[int, int], j: tuple[int, int], runs: Sequence[tuple[int, int]]) -> np.ndarray:
        """Values ``[k0:k1, j0:j1]`` of the column runs ``[(i0, i1), ...]`` side by side, as float32: a box
        across the antimeridian on a -180..180 grid takes its last columns, then its first. Every chunk of
        every run is fetched in one go (concurrently from a remote store), each chunk once."""
        width = sum(b - a for a, b in runs)
        out = np.full((k[1] - k[0], j[1] - j[0], width), self.fill, dtype=np.float32)
        if out.size == 0:
            return out
        # relative key -> flat inner index -> (chunk, [(window, column offset in out)])
        wanted: dict[str, dict[int, tuple[tuple[int, int, int], list]]] = {}
        at = 0
        for i in runs:
            window = (k, j, i)
            first = [a // c for (a, _), c in zip(window, self.chunk)]
            last = [(b - 1) // c for (_, b), c in zip(window, self.chunk)]
            for chunk in itertools.product(*(range(f, g + 1) for f, g in zip(first, last))):
                shard = tuple(c // p for c, p in zip(chunk, self._per_shard))
                inner = tuple(c % p for c, p in zip(chunk, self._per_shard))
                flat = (inner[0] * self._per_shard[1] + inner[1]) * self._per_shard[2] + inner[2]
                rel = f"{self.path}/c/{shard[0]}/{shard[1]}/{shard[2]}"
                wanted.setdefault(rel, {}).setdefault(flat, (chunk, []))[1].append((window, at))
            at += i[1] - i[0]
        shards = [rel for rel in wanted if rel in self.sizes]  # unlisted: never written, fill value
        self._map(self._index, [rel for rel in shards if rel not in self._indexes])
        requests = []
        for rel in shards:
            index = self._indexes[rel]
            placed = sorted((int(index[flat, 0]), int(index[flat, 1]), flat) for flat in wanted[rel]
                            if index[flat, 0] != _EMPTY)
            group: list[tuple[int, int, int]] = []
            for entry in placed:
                if group and entry[0] - (group[-1][0] + group[-1][1]) > _GAP:
                    requests.append((rel, group))
                    group = []
                group.append(entry)
            if group:
                requests.append((rel, group))
        for rel, group, body in self._map(self._fetch, requests):
            start = group[0][0]
            for offset, nbytes, flat in group:
                chunk, targets = wanted[rel][flat]
                values = self._decode(rel, body[offset - start:offset - start + nbytes], chunk)
                for window, column in targets:
                    self._place(values, chunk, window, column, out)
        return out

    def _map(self, fn: Callable[[Any], Any], items: list) -> list:
        if self.concurrent and len(items) > 1:
            return list(_POOL.map(fn, items))
        return [fn(item) for item in items]

    def _fetch(self, request: tuple[str, list]) -> tuple[str, list, memoryview]:
        rel, group = request
        start, end = group[0][0], group[-1][0] + group[-1][1]
        body = self.read_range(rel, start, end - start)
        if len(body) != end - start:
            raise IntegrityError(f"tile {self.tile_key}: object {rel} ended after {start + len(body)} bytes; "
                                 f"its shard index places a chunk up to byte {end}")
        return rel, group, memoryview(body)

    def _index(self, rel: str) -> None:
        """Fetch, check and cache one shard's index."""
        size = self.sizes[rel]
        length = self._n * 16 + 4
        body = self.read_range(rel, size - length, length) if size >= length else b""
        if len(body) != length or not _crc_ok(body):
            actual = self.actual_size(rel)  # only now: the happy path never pays a request for it
            if actual != size:
                raise IntegrityError(f"tile {self.tile_key}: object {rel} is {actual} bytes; the manifest says {size}")
            raise IntegrityError(f"tile {self.tile_key}: object {rel} failed its crc32c check: its shard index "
                                 f"(the last {length} bytes) is not what was written")
        index = np.frombuffer(body[:-4], dtype="<u8").reshape(self._n, 2)
        placed = index[index[:, 0] != _EMPTY]
        if np.any(placed[:, 0] + placed[:, 1] > size - length):
            raise IntegrityError(f"tile {self.tile_key}: object {rel}: its shard index points past the chunk data")
        self._indexes[rel] = index

    def _decode(self, rel: str, body: memoryview, chunk: tuple[int, int, int]) -> np.ndarray:
        if not _crc_ok(body):
            raise IntegrityError(f"tile {self.tile_key}: object {rel} failed its crc32c check: chunk {chunk} "
                                 "read by range is not what was written")
        return np.frombuffer(self._blosc.decode(body[:-4]), dtype="<f4").reshape(self.chunk)

    def _place(self, values: np.ndarray, chunk: tuple[int, int, int], window: tuple[tuple[int, int], ...],
               column: int, out: np.ndarray) -> None:
        """Put the part of a decoded chunk inside ``window`` into ``out``, its columns from ``column`` on."""
        src, dst = [], []
        for axis, ((a, b), c, n) in enumerate(zip(window, chunk, self.chunk)):
            lo, hi = max(a, c * n), min(b, (c + 1) * n)
            shift = column if axis == 2 else 0
            src.append(slice(lo - c * n, hi - c * n))
            dst.append(slice(lo - a + shift, hi - a + shift))
        out[tuple(dst)] = values[tuple(src)]
