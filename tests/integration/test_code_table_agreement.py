"""The Go stub and the Python domain share one code table in meaning: every variable x model the stub
encodes is named back identically by the transformation (the two tables live in two languages)."""

from __future__ import annotations

from datetime import date

from jackfruit.adapters.clock import SystemClock, Uuid7Generator
from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.adapters.storage.filesystem_store import FilesystemObjectStore
from jackfruit.adapters.catalog.memory_catalog import InMemoryCatalog
from jackfruit.adapters.storage.memory_store import InMemoryObjectStore
from jackfruit.adapters.runner.subprocess_runner import SubprocessRunner
from jackfruit.adapters.transform.zarr_tiles import ZarrTileFormat
from jackfruit.app import Jackfruit
from jackfruit.sources.cams_europe import codes as cams
from jackfruit.ports import Secret, Upstream


def test_every_variable_and_model_round_trips_through_stub_and_transform(tmp_path, ads_stub, ingest_binary):
    raw = FilesystemObjectStore(tmp_path / "raw", write_once=True)
    app = Jackfruit(catalog=InMemoryCatalog(), raw_store=raw, curated_store=InMemoryObjectStore("curated"),
                    runner=SubprocessRunner(raw.root, binary=ingest_binary, timeout_s=120,
                                            extra_args=("--poll-initial", "50ms")),
                    decoder=EccodesGribDecoder(), tile_format=ZarrTileFormat(), clock=SystemClock(),
                    ids=Uuid7Generator(), upstream=Upstream(ads_stub.url, Secret(ads_stub.api_key)))
    app.register_builtin_datasets()
    variables, models = sorted(cams.SPECIES_BY_NAME), sorted(cams.MODELS)
    run = app.ingest("cams-europe-air-quality-forecasts", date(2025, 3, 12),
                     {"variable": variables, "model": models, "leadtime_hour": ["0"],
                      "area": [45.1, 5.0, 45.0, 5.1]})
    tiles = app.transform(run.run_id)
    assert sorted((t.variable, t.model) for t in tiles) == sorted((v, m) for v in variables for m in models)
    assert {t.shape for t in tiles} == {(1, 1, 1)}
