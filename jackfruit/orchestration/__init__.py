"""The Dagster driving adapter: ``definitions.py`` (what Dagster loads) and ``defs/`` (one module per concern)."""

from jackfruit.adapters import _load_order  # noqa: F401 - both libpqs before ecCodes' libraries: see there
