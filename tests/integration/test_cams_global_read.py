"""End to end, bit-exact: each day of the real global forecast and EAC4 samples lands as its dataset
(``Jackfruit.land``: the request read from the file, accepted), is transformed, and comes back through ``read``
with every value equal, bit for bit, to ecCodes' own decode of the same message, on the right coordinates (levels,
reference times and lead times, latitudes north to south, longitudes as the file has them).

NEEDS the typed levels (``level_type`` in ``MessageField``/``TileGroup``/``FieldKey``/``Tile``, the lead's change)
to tell no2 on pressure level 1000 from no2 on model level 60 in tiles and reads, and the 0..360 grids of branch
``geo`` for the chemistry sample's 30-degree global grid (0..330): until both are on main, the tests marked
below fail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from jackfruit.adapters import _load_order  # noqa: F401 - libpq before ecCodes' libraries

import eccodes  # noqa: E402

from jackfruit.adapters.transform.eccodes_decoder import EccodesGribDecoder
from jackfruit.domain.geo import BBox, TimeRange
from jackfruit.domain.tiling import plan_tiles
from jackfruit.sources.cams_global import PROFILE as GLOBAL
from jackfruit.synthetic.grib_days import split_by_day

from ..helpers import bits, file_source, memory_app

DATA = Path(__file__).resolve().parents[1] / "data" / "grib"
FORECAST_SAMPLE = DATA / "cams-global-forecast_berlin_pm2p5-pm10-no2_2019-01-01to02_mixed-edition.grib"
EAC4_SAMPLE = DATA / "cams-eac4_go3_25-pressure-levels_2003-01-01to02.grib"
CHEM_SAMPLE = DATA / "cams-chem_mass-mixrat_3-constituents_template4-40.grib"
SHORT = {"pm2p5": "particulate_matter_2.5um", "pm10": "particulate_matter_10um", "no2": "nitrogen_dioxide",
         "go3": "ozone"}


def direct(path: Path) -> dict[tuple, np.ndarray]:
    """(variable, typeOfLevel, level, reference time, lead hours) -> float32 values, decoded by ecCodes alone."""
    out = {}
    with open(path, "rb") as f:
        while (h := eccodes.codes_grib_new_from_file(f)) is not None:
            try:
                ref = datetime.strptime(f"{eccodes.codes_get(h, 'dataDate')}{eccodes.codes_get(h, 'dataTime'):04d}",
                                        "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
                key = (SHORT[eccodes.codes_get(h, "shortName")], eccodes.codes_get(h, "typeOfLevel"),
                       eccodes.codes_get(h, "level"), ref, eccodes.codes_get(h, "startStep"))
                out[key] = eccodes.codes_get_values(h).astype(np.float32).reshape(
                    eccodes.codes_get(h, "Nj"), eccodes.codes_get(h, "Ni"))
            finally:
                eccodes.codes_release(h)
    return out


def land_and_transform(sample: Path, dataset: str, tmp_path: Path):
    parts = split_by_day(sample, tmp_path, EccodesGribDecoder())
    app = memory_app(file_source(parts[0][1]))
    for day, path in parts:
        run = app.land(path, dataset=dataset, partition_date=day)
        assert run.status == "succeeded", run
        assert app.transform(run.run_id)
    return app


@pytest.mark.parametrize("variable, type_of_level, level, steps", [
    ("particulate_matter_2.5um", "surface", 0, range(96)), ("particulate_matter_10um", "surface", 0, range(96)),
    ("nitrogen_dioxide", "isobaricInhPa", 1000, range(0, 94, 3)), ("nitrogen_dioxide", "hybrid", 60, range(0, 94, 3)),
])
def test_the_global_forecast_days_land_and_read_back_bit_exact(tmp_path, variable, type_of_level, level, steps):
    """NEEDS typed levels on main (level_type filter of ``read``)."""
    app = land_and_transform(FORECAST_SAMPLE, GLOBAL.name, tmp_path)
    ref = direct(FORECAST_SAMPLE)
    level_type = {"surface": "surface", "isobaricInhPa": "pressure", "hybrid": "model"}[type_of_level]
    start = datetime(2019, 1, 1, tzinfo=timezone.utc)
    ds = app.read(BBox(13.0, 52.3, 13.8, 52.7), TimeRange(start, start + timedelta(days=6)), [variable],
                  dataset=GLOBAL.name, model="ifs", level_m=level, level_type=level_type)
    assert list(ds.latitude.values) == [52.7, 52.3] and list(ds.longitude.values) == [13.0, 13.4, 13.8]
    refs = [datetime(2019, 1, d, tzinfo=timezone.utc) for d in (1, 2)]
    assert [np.datetime64(r.replace(tzinfo=None), "ns") for r in refs] == list(ds.forecast_reference_time.values)
    assert ds.step.attrs["units"] == "hours" and [int(s) for s in ds.step.values] == list(steps)
    values = ds[variable].values
    for r, ref_time in enumerate(refs):
        for s, step in enumerate(steps):
            assert (bits(values[r, s]) == bits(ref[(variable, type_of_level, level, ref_time, step)])).all()


def test_the_eac4_days_land_and_read_back_bit_exact_on_every_pressure_level(tmp_path):
    """NEEDS typed levels on main (level_type filter of ``read``)."""
    from jackfruit.sources.cams_eac4 import PROFILE as EAC4
    app = land_and_transform(EAC4_SAMPLE, EAC4.name, tmp_path)
    ref = direct(EAC4_SAMPLE)
    start = datetime(2003, 1, 1, tzinfo=timezone.utc)
    for level in (1, 500, 1000):
        ds = app.read(BBox(-10.0, 50.0, 5.0, 59.75), TimeRange(start, start + timedelta(days=2)), ["ozone"],
                      dataset=EAC4.name, model="ifs", level_m=level, level_type="pressure", layout="valid_time")
        assert float(ds.latitude[0]) == 59.75 and float(ds.latitude[-1]) == 50.0
        assert float(ds.longitude[0]) == -10.0 and float(ds.longitude[-1]) == 5.0
        times = [start + timedelta(hours=3 * k) for k in range(16)]
        assert list(ds.valid_time.values) == [np.datetime64(t.replace(tzinfo=None), "ns") for t in times]
        for k, t in enumerate(times):
            assert (bits(ds["ozone"].values[k]) == bits(ref[("ozone", "isobaricInhPa", level, t, 0)])).all()


def test_the_chemistry_sample_plans_three_tiles_never_one():
    """NEEDS the 0..360 grids of branch ``geo`` (the sample's grid runs 0..330 degrees east)."""
    headers = EccodesGribDecoder().scan(str(CHEM_SAMPLE))
    groups = plan_tiles(headers, GLOBAL.name_message)
    assert sorted(g.variable for g in groups) == ["carbon_monoxide", "formaldehyde", "ozone"]
