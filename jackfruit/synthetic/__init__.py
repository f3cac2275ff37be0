"""Synthetic sources: GRIB generated like real CAMS Europe (for the in-memory runner, demos, benchmarks and
tests) and a local fake of the ADS service (the Go ``ads-stub``, for the demo). Production adapters use
them only where a configuration asks for a synthetic source (``JACKFRUIT_RUNNER=memory``, ``jackfruit demo``);
nothing here is a test double of a port."""
