"""ZarrTileFormat: a tile is one Zarr v3 group (one sharded data array, its grid in the group's attributes)
under a key prefix.

Layout and chunking are argued in docs/adr/0005-whole-grid-tiles.md (before: 0002); verification in
docs/adr/0004-verified-tiles.md. Since transformation version 2 a tile ends with ``manifest.json`` (every
other object's relative key, size and SHA-256), and the catalog's ``Tile.sha256`` is the SHA-256 of that
manifest object; data chunks carry crc32c inside the shard. Version-1 tiles have no manifest object: their
checksum is the SHA-256 of ``"<relative key> <size> <sha256>\\n"`` lines, sorted (``manifest_digest``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec
from xarray.indexes import PandasIndex
from zarr.storage import LocalStore

from jackfruit.domain import cams
from jackfruit.domain.cams import ATTRIBUTION, LICENCE
from jackfruit.domain.errors import IntegrityError, InvalidInput, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.selection import (LAYOUTS, forecast_layout, nearest_valid_times, select_steps, select_window,
                                        valid_time_layout)
from jackfruit.domain.tiling import Cell, RegularGrid, TileGroup
from jackfruit.ports.storage import ObjectStore

from .shard_reader import ShardedArray
from .zarr_store import TILE_MANIFEST, ObjectStoreZarrStore, VerifiedZarrStore

MANIFEST = TILE_MANIFEST
MANIFEST_FORMAT = "jackfruit-tile-manifest/1"

EPOCH_UNITS = "seconds since 1970-01-01T00:00:00Z"
#: Blosc LZ4 with byte shuffle: lossless, 2.1x on the real CAMS fields (zstd-1: 2.6x at twice the encode
#: and three times the decode time); the table in docs/benchmarks.md, the choice in docs/adr/0006
_COMPRESSOR = BloscCodec(cname="lz4", clevel=1, shuffle=BloscShuffle.shuffle)
#: inner chunk of the data array: 16 lead times x 35 rows x 70 columns; one shard per 16 lead times covering
#: the whole grid (docs/adr/0006-lead-time-shards.md)
CHUNK = (16, 35, 70)
#: tiles are encoded by the zarrs codec pipeline (Rust, parallel) on a LocalStore; strict: never a silent
#: fallback to the slower default pipeline
_ZARRS = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline", "codec_pipeline.strict": True}
_zarrs_lock = threading.Lock()
_zarrs_users: list[Any] = []  # the open ``zarr.config.set`` while any write is building a tile


@contextmanager
def _zarrs_pipeline() -> Iterator[None]:
    """Selects the zarrs pipeline while at least one tile is being built, from any thread. ``zarr.config`` is
    process-global: a plain ``config.set`` per write would, on exit, restore the default under another
    write still running."""
    with _zarrs_lock:
        if not _zarrs_users:
            ctx = zarr.config.set(_ZARRS)
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
# What zarr 3 raises when a crc32c codec's stored and computed checksums differ (zarr.codecs.Crc32cCodec,
# a plain ValueError): the chunk or the shard index fetched is not what was written.
CRC32C_FAILURE = "Stored and computed checksum do not match"


def is_crc32c_failure(err: BaseException) -> bool:
    return isinstance(err, ValueError) and str(err).startswith(CRC32C_FAILURE)


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


#: lead times ``[k0, k1)`` of a tile group's messages, decoded: float32 ``(k1 - k0, ny, nx)`` on the group's grid
SlabSource = Callable[..., Any]


def _files(folder: str) -> list[str]:
    """Relative ``/``-separated paths of the files under ``folder``."""
    out = []
    for dirpath, _, names in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        out.extend(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/") for name in names)
    return out


def _is_local(store: ObjectStore, tile: Tile) -> bool:
    """Whether the store keeps objects as local files (reads in turn cost less than a thread hand-off)."""
    try:
        return store.local_path(f"{tile.key}/{MANIFEST}") is not None
    except (NotFound, AttributeError):
        return False


def _epoch(dt: Any) -> int:
    return int(dt.astimezone(timezone.utc).timestamp())


class ZarrTileFormat:
    """Tiles of transformation version 3 (docs/adr/0005-whole-grid-tiles.md): one tile per (model, variable,
    level, reference time) holding the whole grid, four objects: the group's ``zarr.json`` (CF attributes,
    grid, lead times, GRIB identity, source message offsets), the data array's ``zarr.json``, its one shard
    (inner chunks of ``CHUNK`` lead times x rows x columns, Blosc zstd-1 + byte shuffle, crc32c per chunk),
    and ``manifest.json``. Built with zarr's public API in a scratch folder (``LocalStore``, the ``zarrs``
    codec pipeline), then uploaded through the ``ObjectStore`` port, manifest last.

    Tiles of versions 1 and 2 (10-degree cells with coordinate arrays) stay readable and verifiable."""

    #: inner chunk (lead times, rows, columns), clipped to the grid; the shard covers the whole array
    chunk: tuple[int, int, int] = CHUNK
    compressors: tuple[Any, ...] = (_COMPRESSOR, Crc32cCodec())

    def __init__(self, cache_size: int = 256) -> None:
        self._cache: OrderedDict[tuple[int, str, str], _OpenTile] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    # -- write ---------------------------------------------------------------------------------------------------
    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: SlabSource,
              attrs: Mapping[str, Any], scratch: str) -> tuple[int, str]:
        """Build the tile shard by shard: while one shard's lead times are encoded (zarrs, all cores), the
        next ones decode in another thread and the shard before is uploaded in a third. Memory holds about
        three slabs of the grid, whatever the number of lead times or the size of the file."""
        (j0, j1), (i0, i1) = cell.rows, cell.cols
        n = len(group.steps)
        shape = (n, j1 - j0, i1 - i0)
        chunks = tuple(min(c, s) for c, s in zip(self.chunk, shape))
        shards = (chunks[0],) + tuple(-(-s // c) * c for s, c in zip(shape[1:], chunks[1:]))
        folder = tempfile.mkdtemp(prefix="tile-", dir=scratch)
        try:
            with _zarrs_pipeline():
                data = zarr.open_group(LocalStore(folder), mode="w", zarr_format=3,
                                       attributes=self._root_attrs(group, cell, attrs)).create_array(
                    group.variable, shape=shape, dtype="float32", chunks=chunks, shards=shards,
                    compressors=list(self.compressors), fill_value=np.nan,
                    dimension_names=("step", "latitude", "longitude"),
                    attributes={k: attrs[k] for k in ("units", "long_name", "standard_name") if k in attrs}
                    | {"jackfruit_variable": group.variable})

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
                        for rel in _files(folder):
                            if rel not in uploaded:
                                uploaded[rel] = upload.submit(self._upload_file, folder, rel, store, key)
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

    @staticmethod
    def _root_attrs(group: TileGroup, cell: Cell, attrs: Mapping[str, Any]) -> dict[str, Any]:
        (j0, j1), (i0, i1) = cell.rows, cell.cols
        grid = group.grid
        sub = RegularGrid(grid.lat(j0), grid.lon(i0), grid.dlat, grid.dlon, j1 - j0, i1 - i0)
        return {
            "Conventions": "CF-1.10",
            "title": f"{attrs.get('long_name', group.variable)} ({group.model}, {group.level_m} m)",
            "institution": cams.INSTITUTIONS.get(group.model, group.model),
            "source": attrs.get("source_raw_key", ""),
            "history": f"{attrs.get('transformation')} v{attrs.get('transformation_version')}",
            "license": LICENCE,
            "jackfruit_model": group.model,
            "jackfruit_variable": group.variable,
            "jackfruit_level_m": group.level_m,
            "jackfruit_reference_time": group.reference_time.isoformat(),
            "jackfruit_steps": list(group.steps),
            "jackfruit_grid": {"lat0": sub.lat0, "lon0": sub.lon0, "dlat": sub.dlat, "dlon": sub.dlon,
                               "ny": sub.ny, "nx": sub.nx},
            "jackfruit_extent": list(cell.bbox.as_tuple()),
            **{k: v for k, v in attrs.items() if k.startswith(("source_", "transformation", "attribution",
                                                               "grib_"))},
        }

    @staticmethod
    def _upload_file(folder: str, rel: str, store: ObjectStore, key: str) -> tuple[int, str]:
        """One built file through the port (atomic and durable on its own, hashed by the store); the store
        consumes the scratch file (moves it into place when it can), so scratch holds a shard or two."""
        info = store.put_file(f"{key}/{rel}", os.path.join(folder, *rel.split("/")))
        if info.sha256 is None:
            raise IntegrityError(f"store {store.bucket} did not report the SHA-256 of {key}/{rel}")
        return info.size, info.sha256

    # -- verified access -----------------------------------------------------------------------------------------
    def _entries(self, store: ObjectStore, key: str, sha256: str) -> dict[str, tuple[int, str]]:
        """The tile's objects (relative key -> size, sha256), checked against the catalog's digest."""
        try:
            body = store.get(f"{key}/{MANIFEST}")
        except NotFound:
            return self._entries_v1(store, key, sha256)
        got = hashlib.sha256(body).hexdigest()
        if got != sha256:
            raise IntegrityError(f"tile {key}: object {MANIFEST} has sha256 {got}; the catalog recorded {sha256}")
        return parse_manifest(key, body)

    @staticmethod
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

    def verified_store(self, store: ObjectStore, key: str, sha256: str) -> VerifiedZarrStore:
        """A zarr store over the tile that serves only verified bytes (the catalog's ``sha256`` anchors it)."""
        return VerifiedZarrStore(store, key, self._entries(store, key, sha256))

    def open(self, store: ObjectStore, tile: Tile) -> xr.Dataset:
        """The whole tile as a dataset (verified), in the forecast layout of ``read``: for inspection and
        tests; serving reads use ``read``."""
        opened = self._open_tile(store, tile)
        g = opened.grid
        bbox = BBox(min(g.lon(0), g.lon(g.nx - 1)), min(g.lat(0), g.lat(g.ny - 1)),
            max(g.lon(0), g.lon(g.nx - 1)), max(g.lat(0), g.lat(g.ny - 1)))
        first = tile.reference_time + timedelta(hours=opened.steps[0])
        last = tile.reference_time + timedelta(hours=opened.steps[-1] + 1)
        return self.read(store, [tile], bbox, TimeRange(first, last))

    def sources(self, store: ObjectStore, tile: Tile) -> list[dict[str, int]]:
        attrs = self._open_tile(store, tile).attrs
        offsets, lengths = attrs.get("grib_message_offsets"), attrs.get("grib_message_lengths")
        steps = attrs.get("jackfruit_steps")
        if not offsets or not lengths or not steps or not len(offsets) == len(lengths) == len(steps):
            return []  # versions before the tile recorded its messages
        return [{"step": int(s), "offset": int(o), "length": int(n)} for s, o, n in zip(steps, offsets, lengths)]

    def _sharded_objects(self, store: ObjectStore, tile: Tile) -> list[str]:
        """The objects zarr reads by range (the data array's shards): where a crc32c failure comes from."""
        try:
            entries = self._entries(store, tile.key, tile.sha256)
        except (IntegrityError, NotFound):
            return []
        return sorted(k for k in entries if k.startswith(f"{tile.variable}/") and k != f"{tile.variable}/zarr.json")

    def verify(self, store: ObjectStore, tile: Tile) -> list[str]:
        """Every problem of one tile (empty = intact): manifest digest, each object's presence, size and
        SHA-256 (shards re-hashed whole), objects the manifest does not list. Raises only
        ``BackendUnavailable``."""
        try:
            entries = self._entries(store, tile.key, tile.sha256)
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

    # -- read ----------------------------------------------------------------------------------------------------
    def _open_tile(self, store: ObjectStore, tile: Tile) -> "_OpenTile":
        """The tile's verified metadata and data array (cached per store, key and catalog digest: tiles are
        immutable, and a different digest is a different cache entry)."""
        ident = (id(store), tile.key, tile.sha256)
        with self._cache_lock:
            hit = self._cache.get(ident)
            if hit is not None:
                self._cache.move_to_end(ident)
                return hit
        verified = self.verified_store(store, tile.key, tile.sha256)
        root = json.loads(verified.get_verified("zarr.json")).get("attributes", {})
        if "jackfruit_grid" in root:
            g = root["jackfruit_grid"]
            grid = RegularGrid(g["lat0"], g["lon0"], g["dlat"], g["dlon"], g["ny"], g["nx"])
            meta = json.loads(verified.get_verified(f"{tile.variable}/zarr.json"))
            reader = ShardedArray.from_metadata(tile.key, tile.variable, meta, verified.sizes(),
                                                verified.read_range, verified.stored_size,
                                                concurrent=not _is_local(store, tile))
            # an array in a layout the shard reader does not take is read by zarr
            array = None if reader else zarr.open_array(verified, path=tile.variable, mode="r", zarr_format=3)
            opened = _OpenTile(root, verified, grid, tuple(int(s) for s in root["jackfruit_steps"]),
                               reader or array, dict(meta.get("attributes", {})), None)
        else:  # versions 1 and 2: a 10-degree cell with CF coordinate arrays
            ds = xr.open_zarr(verified, zarr_format=3, consolidated=False, chunks=None, decode_timedelta=False)
            lat, lon = ds["latitude"].values, ds["longitude"].values
            dlat = round(float(lat[1] - lat[0]), 6) if lat.size > 1 else 0.0
            dlon = round(float(lon[1] - lon[0]), 6) if lon.size > 1 else 0.0
            grid = RegularGrid(round(float(lat[0]), 6), round(float(lon[0]), 6), dlat, dlon, lat.size, lon.size)
            opened = _OpenTile(dict(ds.attrs), verified, grid, tuple(int(s) for s in ds["step"].values), None,
                               dict(ds[tile.variable].attrs), ds)
        with self._cache_lock:
            self._cache[ident] = opened
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return opened

    def _piece(self, store: ObjectStore, tile: Tile, bbox: BBox, span: TimeRange) -> "_Piece | _Miss":
        opened: _OpenTile | None = None
        try:
            with crc32c_checked(tile.key, lambda: opened.verified.ranged() if opened else []):
                opened = self._open_tile(store, tile)
                try:
                    win = select_window(opened.grid, bbox, what=f"tile {tile.key}")
                except NotFound as miss:
                    return _Miss(space=str(miss))
                steps = select_steps(tile.reference_time, opened.steps, span)
                if steps is None:
                    return _Miss(valid_times=[tile.reference_time + timedelta(hours=s) for s in opened.steps])
                (k0, k1), (j0, j1), (i0, i1) = steps, win.rows, win.cols
                if isinstance(opened.array, ShardedArray):
                    values = opened.array.read((k0, k1), (j0, j1), (i0, i1))
                elif opened.array is not None:
                    values = opened.array[k0:k1, j0:j1, i0:i1]
                else:
                    values = opened.legacy[tile.variable].values[k0:k1, j0:j1, i0:i1]
        except NotFound as err:  # listed by the catalog, so never "nothing here"
            raise IntegrityError(f"tile {tile.key} is listed by the catalog but cannot be read: {err}") from err
        g = opened.grid
        return _Piece(tile, opened.steps[k0:k1], np.array([g.lat(j) for j in range(j0, j1)]),
                      np.array([g.lon(i) for i in range(i0, i1)]), np.asarray(values, dtype=np.float32),
                      opened.attrs, opened.data_attrs)

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange,
             layout: str = "forecast") -> xr.Dataset:
        if layout not in LAYOUTS:
            raise InvalidInput(f"layout {layout!r} is not one of {list(LAYOUTS)}")
        if not tiles:
            raise NotFound("no tiles to read")
        if len(tiles) == 1:
            results = [self._piece(store, tiles[0], bbox, time_range)]
        else:
            with ThreadPoolExecutor(min(8, len(tiles))) as pool:
                results = list(pool.map(lambda t: self._piece(store, t, bbox, time_range), tiles))
        pieces = [r for r in results if isinstance(r, _Piece)]
        if not pieces:
            misses = [r for r in results if isinstance(r, _Miss)]
            space = [m.space for m in misses if m.space]
            if space:
                raise NotFound(space[0])
            times = [t for m in misses for t in m.valid_times]
            raise NotFound(f"no lead time of the {len(tiles)} tile(s) found is valid in "
                           f"[{time_range.start.isoformat()}, {time_range.end.isoformat()}); "
                           f"{nearest_valid_times(times, time_range)}")
        return _assemble(pieces, layout)


@dataclass
class _OpenTile:
    attrs: dict[str, Any]  # the group's attributes (verified)
    verified: VerifiedZarrStore
    grid: RegularGrid  # of the tile's points
    steps: tuple[int, ...]
    array: Any  # versions 3+: the data array (a ShardedArray, or zarr's for another layout)
    data_attrs: dict[str, Any]
    legacy: Any  # versions 1 and 2: the xarray dataset


@dataclass
class _Piece:
    tile: Tile
    steps: tuple[int, ...]
    lats: np.ndarray
    lons: np.ndarray
    values: np.ndarray  # (steps, lats, lons) float32
    attrs: dict[str, Any]
    data_attrs: dict[str, Any]


@dataclass
class _Miss:
    space: str = ""
    valid_times: list = field(default_factory=list)


def _datetime64(values: Sequence[datetime]) -> np.ndarray:
    return np.array([np.datetime64(v.astimezone(timezone.utc).replace(tzinfo=None), "ns") for v in values],
                    dtype="datetime64[ns]")


def _assemble(pieces: list[_Piece], layout: str) -> xr.Dataset:
    """One dataset from the pieces: coordinates are the union of the pieces' points, nothing is invented
    (``present`` is false where no source message exists; such values are NaN)."""
    lat_values = sorted({round(float(v), 6) for p in pieces for v in p.lats}, reverse=True)
    lon_values = sorted({round(float(v), 6) for p in pieces for v in p.lons})
    lat_index = {v: n for n, v in enumerate(lat_values)}
    lon_index = {v: n for n, v in enumerate(lon_values)}
    variables = sorted({p.tile.variable for p in pieces})
    available = {v: {(p.tile.reference_time, s) for p in pieces if p.tile.variable == v for s in p.steps}
                 for v in variables}
    fl = forecast_layout(available)
    ref_index = {r: n for n, r in enumerate(fl.reference_times)}
    step_index = {s: n for n, s in enumerate(fl.steps)}
    shape = (len(fl.reference_times), len(fl.steps), len(lat_values), len(lon_values))
    data = {v: np.full(shape, np.nan, dtype=np.float32) for v in variables}
    for p in pieces:
        rows = np.array([lat_index[round(float(v), 6)] for v in p.lats])
        cols = np.array([lon_index[round(float(v), 6)] for v in p.lons])
        r = ref_index[p.tile.reference_time]
        ks = np.array([step_index[s] for s in p.steps])
        target = data[p.tile.variable][r]
        target[np.ix_(ks, rows, cols)] = p.values
    present = np.array([[[fl.is_present(v, ref, s) for s in fl.steps] for ref in fl.reference_times]
                        for v in variables], dtype=bool)
    lat = ("latitude", np.array(lat_values), {"units": "degrees_north", "standard_name": "latitude"})
    lon = ("longitude", np.array(lon_values), {"units": "degrees_east", "standard_name": "longitude"})
    refs = _datetime64(fl.reference_times)
    var_attrs = _variable_attrs(pieces)
    if layout == "forecast":
        steps = np.array(fl.steps, dtype=np.int32)
        valid = refs[:, None] + steps[None, :].astype("timedelta64[h]").astype("timedelta64[ns]")
        coords = {
            "forecast_reference_time": ("forecast_reference_time", refs, {"standard_name": "forecast_reference_time"}),
            "step": ("step", steps, {"units": "hours", "long_name": "lead time", "standard_name": "forecast_period"}),
            "valid_time": (("forecast_reference_time", "step"), valid, {"standard_name": "time"}),
            "latitude": lat, "longitude": lon, "variable": ("variable", np.array(variables, dtype=object)),
        }
        dims = ("forecast_reference_time", "step", "latitude", "longitude")
        data_vars: dict[str, Any] = {v: (dims, data[v], var_attrs[v]) for v in variables}
        data_vars["present"] = (("variable", "forecast_reference_time", "step"), present, _PRESENT_ATTRS)
    else:
        vl = valid_time_layout(available)
        pick_r = np.array([ref_index[r] for r in vl.source], dtype=int)
        pick_s = np.array([step_index[int((vt - r).total_seconds() // 3600)]
                           for vt, r in zip(vl.valid_times, vl.source)], dtype=int)
        coords = {
            "valid_time": ("valid_time", _datetime64(vl.valid_times), {"standard_name": "time"}),
            "forecast_reference_time": ("valid_time", _datetime64(vl.source),
                                        {"standard_name": "forecast_reference_time",
                                         "long_name": "the newest forecast covering each valid time"}),
            "latitude": lat, "longitude": lon, "variable": ("variable", np.array(variables, dtype=object)),
        }
        dims = ("valid_time", "latitude", "longitude")
        data_vars = {v: (dims, data[v][pick_r, pick_s], var_attrs[v]) for v in variables}
        data_vars["present"] = (("variable", "valid_time"), np.array(
            [[vt in vl.present[v] for vt in vl.valid_times] for v in variables], dtype=bool), _PRESENT_ATTRS)
    return xr.Dataset(data_vars, coords=_coordinates(coords), attrs=_provenance(pieces, layout))


def _coordinates(coords: Mapping[str, tuple]) -> xr.Coordinates:
    """Coordinates with their indexes built here from the arrays' own dtypes (``PandasIndex`` over a
    ``pandas.Index``): the same indexes xarray would make, at a third of its cost for a small read."""
    variables = {name: xr.Variable(*spec) for name, spec in coords.items()}
    indexes = {name: PandasIndex(pd.Index(v.values, name=name), name) for name, v in variables.items()
               if v.dims == (name,)}
    return xr.Coordinates(variables, indexes=indexes)


_PRESENT_ATTRS = {"long_name": "a source GRIB message exists for this variable and time",
                  "flag_meanings": "false: no message in any source; values there are NaN, not measured"}


def _variable_attrs(pieces: list[_Piece]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in pieces:
        attrs = out.setdefault(p.tile.variable, {k: p.data_attrs[k] for k in ("units", "long_name", "standard_name")
                                                  if k in p.data_attrs})
        attrs["jackfruit_model"] = p.tile.model
        attrs["jackfruit_level_m"] = p.tile.level_m
        attrs["institution"] = cams.INSTITUTIONS.get(p.tile.model, p.tile.model)
    return out


def _provenance(pieces: list[_Piece], layout: str) -> dict[str, Any]:
    """Every source run, raw object and tile the result was assembled from, and the licence with the
    attribution of every year it covers (attributes never dropped when sources differ)."""
    sources: dict[str, dict[str, Any]] = {}
    years = set()
    versions = set()
    for p in sorted(pieces, key=lambda p: p.tile.key):
        entry = sources.setdefault(p.tile.run_id, {
            "run_id": p.tile.run_id, "raw_key": p.attrs.get("source_raw_key", ""),
            "raw_sha256": p.attrs.get("source_raw_sha256", ""), "tiles": []})
        entry["tiles"].append({"key": p.tile.key, "sha256": p.tile.sha256})
        years.add(p.tile.reference_time.year)
        versions.add(str(p.attrs.get("transformation_version", "")))
    return {
        "Conventions": "CF-1.10",
        "jackfruit_layout": layout,
        "license": LICENCE,
        "attribution": "; ".join(ATTRIBUTION.format(year=y) for y in sorted(years)),
        "source": "; ".join(sorted({s["raw_key"] for s in sources.values()})),
        "jackfruit_sources": [sources[k] for k in sorted(sources)],
        "jackfruit_transformation_versions": sorted(versions),
    }


@contextmanager
def crc32c_checked(tile_key: str, ranged: Callable[[], Sequence[str]]) -> Iterator[None]:
    """Inside: zarr's crc32c failure (a plain ``ValueError`` raised from its async decoding) becomes an
    ``IntegrityError`` naming the tile and ``ranged()``, the objects read by byte range (only those rely on
    crc32c: every whole-object read is checked against the manifest's SHA-256 before zarr decodes it).
    Any other error passes unchanged."""
    try:
        yield
    except ValueError as err:
        if not is_crc32c_failure(err):
            raise
        objects = " or ".join(ranged()) or "(a chunk read by range)"
        raise IntegrityError(f"tile {tile_key}: object {objects} failed its crc32c check: a chunk or the "
                             f"shard index read by range is not what was written ({err})") from err
