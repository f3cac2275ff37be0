"""ZarrTileFormat: a tile is one Zarr v3 group (one sharded data array + CF coordinates) under a key prefix.

Layout and chunking are argued in docs/adr/0002-tile-cells-and-chunks.md; verification in
docs/adr/0004-verified-tiles.md. Since transformation version 2 a tile ends with ``manifest.json`` (every
other object's relative key, size and SHA-256), and the catalog's ``Tile.sha256`` is the SHA-256 of that
manifest object; data chunks carry crc32c inside the shard. Version-1 tiles have no manifest object: their
checksum is the SHA-256 of ``"<relative key> <size> <sha256>\\n"`` lines, sorted (``manifest_digest``).
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from datetime import timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import xarray as xr
import zarr
from zarr.abc.buffer import Buffer
from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec
from zarr.storage import MemoryStore

from jackfruit.domain.errors import IntegrityError, NotFound
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.model import Tile
from jackfruit.domain.tiling import Cell, TileGroup
from jackfruit.ports.storage import ObjectStore

from .zarr_store import TILE_MANIFEST, ObjectStoreZarrStore, VerifiedZarrStore

MANIFEST = TILE_MANIFEST
MANIFEST_FORMAT = "jackfruit-tile-manifest/1"

EPOCH_UNITS = "seconds since 1970-01-01T00:00:00Z"
_COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)
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


def _epoch(dt: Any) -> int:
    return int(dt.astimezone(timezone.utc).timestamp())


class ZarrTileFormat:
    # the data array's chunk codecs inside the shard, after ``bytes``: crc32c after the compressor, so a
    # byte-range read of one chunk verifies exactly the bytes it fetched (the shard index has its own crc32c)
    data_compressors: tuple[Any, ...] = (_COMPRESSOR, Crc32cCodec())

    def write(self, store: ObjectStore, key: str, group: TileGroup, cell: Cell, values: Any,
              attrs: Mapping[str, Any]) -> tuple[int, str]:
        (j0, j1), (i0, i1) = cell.rows, cell.cols
        block = np.ascontiguousarray(values[:, j0:j1, i0:i1], dtype=np.float32)
        steps = np.asarray(group.steps, dtype=np.int32)
        ref = _epoch(group.reference_time)
        objects: dict[str, Buffer] = {}
        root = zarr.open_group(MemoryStore(objects), mode="w", zarr_format=3, attributes={
            "Conventions": "CF-1.10",
            "title": f"{attrs.get('long_name', group.variable)} ({group.model}, {group.level_m} m)",
            "institution": "CAMS regional ensemble via the Copernicus Atmosphere Data Store",
            "source": attrs.get("source_raw_key", ""),
            "history": f"{attrs.get('transformation')} v{attrs.get('transformation_version')}",
            "license": "Copernicus licence; " + str(attrs.get("attribution", "")),
            "jackfruit_model": group.model,
            "jackfruit_level_m": group.level_m,
            "jackfruit_cell": cell.cell_id,
            "jackfruit_cell_bbox": list(cell.bbox.as_tuple()),
            **{k: v for k, v in attrs.items() if k.startswith(("source_", "transformation", "attribution"))},
        })
        data = root.create_array(
            group.variable, shape=block.shape, dtype="float32", chunks=(1,) + block.shape[1:],
            shards=block.shape, compressors=list(self.data_compressors), fill_value=np.nan,
            dimension_names=("step", "latitude", "longitude"),
            attributes={k: attrs[k] for k in ("units", "long_name", "standard_name") if k in attrs}
            | {"coordinates": "valid_time forecast_reference_time", "jackfruit_variable": group.variable})
        data[...] = block
        self._coord(root, "step", steps, ("step",), {"units": "hours", "long_name": "lead time",
                                                     "standard_name": "forecast_period"})
        self._coord(root, "latitude", np.array([group.grid.lat(j) for j in range(j0, j1)]), ("latitude",),
                    {"units": "degrees_north", "standard_name": "latitude"})
        self._coord(root, "longitude", np.array([group.grid.lon(i) for i in range(i0, i1)]), ("longitude",),
                    {"units": "degrees_east", "standard_name": "longitude"})
        self._coord(root, "valid_time", ref + steps.astype(np.int64) * 3600, ("step",),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian", "standard_name": "time"})
        self._coord(root, "forecast_reference_time", np.array(ref, dtype=np.int64), (),
                    {"units": EPOCH_UNITS, "calendar": "proleptic_gregorian",
                     "standard_name": "forecast_reference_time"})
        return self._upload(objects, store, key)

    @staticmethod
    def _coord(root: Any, name: str, values: np.ndarray, dims: tuple[str, ...], attrs: dict[str, Any]) -> None:
        arr = root.create_array(name, shape=values.shape, dtype=values.dtype, chunks=values.shape if values.shape else (),
                                compressors=None, dimension_names=dims, attributes=attrs, fill_value=None)
        arr[...] = values

    @staticmethod
    def _upload(objects: Mapping[str, Buffer], store: ObjectStore, key: str) -> tuple[int, str]:
        """Every object, then the manifest last: a tile without its manifest is incomplete by definition.

        ``objects`` is the dict the tile's ``MemoryStore`` was built on (its public ``store_dict``)."""
        entries = []
        for rel, buf in sorted(objects.items()):
            body = buf.to_bytes()
            info = store.put(f"{key}/{rel}", body)
            entries.append((rel, info.size, info.sha256 or hashlib.sha256(body).hexdigest()))
        manifest = manifest_bytes(entries)
        info = store.put(f"{key}/{MANIFEST}", manifest)
        return sum(e[1] for e in entries) + info.size, hashlib.sha256(manifest).hexdigest()

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

    def open(self, store: ObjectStore, key: str, sha256: str | None = None) -> xr.Dataset:
        """The tile as a lazy dataset; with ``sha256`` (the catalog's) every object read is verified.

        Data is decoded when loaded: a crc32c failure then is zarr's ``ValueError`` unless the load happens
        inside ``crc32c_checked`` (``read`` does that)."""
        if sha256 is None:
            zstore = ObjectStoreZarrStore(store, key)
            return xr.open_zarr(zstore, zarr_format=3, consolidated=False, chunks=None, decode_timedelta=False)
        verified = self.verified_store(store, key, sha256)
        with crc32c_checked(key, verified.ranged):
            return xr.open_zarr(verified, zarr_format=3, consolidated=False, chunks=None, decode_timedelta=False)

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

    def read(self, store: ObjectStore, tiles: Sequence[Tile], bbox: BBox, time_range: TimeRange) -> xr.Dataset:
        start = np.datetime64(time_range.start.replace(tzinfo=None), "ns")
        end = np.datetime64(time_range.end.replace(tzinfo=None), "ns")
        pieces: dict[tuple[str, Any], list[xr.Dataset]] = {}
        for tile in tiles:
            # everything zarr decodes for this tile, coordinates and data, inside: a crc32c failure names it
            with crc32c_checked(tile.key, lambda: self._sharded_objects(store, tile)):
                ds = self.open(store, tile.key, tile.sha256)
                lat, lon = ds["latitude"].values, ds["longitude"].values
                keep_lat = np.nonzero((lat >= bbox.south) & (lat <= bbox.north))[0]
                keep_lon = np.nonzero((lon >= bbox.west) & (lon <= bbox.east))[0]
                valid = ds["valid_time"].values
                keep_step = np.nonzero((valid >= start) & (valid < end))[0]
                if not (keep_lat.size and keep_lon.size and keep_step.size):
                    continue
                part = ds.isel(latitude=keep_lat, longitude=keep_lon, step=keep_step).load()
            part = part.expand_dims("forecast_reference_time").set_coords("valid_time")
            part["valid_time"] = part["valid_time"].expand_dims(forecast_reference_time=part.forecast_reference_time)
            pieces.setdefault((tile.variable, tile.reference_time), []).append(part)
        if not pieces:
            return xr.Dataset()
        per_variable: dict[str, list[xr.Dataset]] = {}
        for (variable, _), parts in sorted(pieces.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            per_variable.setdefault(variable, []).append(xr.combine_by_coords(parts, combine_attrs="drop_conflicts"))
        merged = [xr.concat(v, dim="forecast_reference_time", join="outer", combine_attrs="drop_conflicts")
                  for v in per_variable.values()]
        out = xr.merge(merged, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")
        for var in out.variables.values():
            var.encoding = {}  # the tiles' on-disk layout (shards, codecs) does not describe this result
        return out.sortby("latitude", ascending=False).sortby("longitude")


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
