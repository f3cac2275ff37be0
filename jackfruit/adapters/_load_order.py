"""Load libpq before ecCodes: import this module before ``eccodes`` (it is cheap: one ``dlopen``, no psycopg import).

The ecCodes wheels load eckit's bundled libraries with ``RTLD_GLOBAL`` (findlibs), among them an OpenLDAP 2.4
that exports unversioned ``ber_*`` symbols. libpq (psycopg's bundled one, or the system's) depends on its own
OpenLDAP; when it is loaded *after* eckit's, the global symbols take over and the process crashes in libldap's
destructor at exit (segfault or ``free(): invalid pointer``; psycopg/psycopg2#1824 describes the same clash).
Loaded first, libpq keeps its own. So every jackfruit module that imports ``eccodes`` imports this one before.
psycopg2-binary (dagster-postgres' driver, with the ``dagster`` extra) bundles another libpq: it is loaded too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os


def _bundled_libpq(package: str = "psycopg_binary") -> list[str]:
    if package == "psycopg_binary" and os.environ.get("PSYCOPG_IMPL", "").strip().lower() == "python":
        return []
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    libs = os.path.join(list(spec.submodule_search_locations)[0], os.pardir, f"{package}_binary.libs"
                        if package == "psycopg2" else f"{package}.libs")
    return sorted(glob.glob(os.path.join(libs, "libpq-*.so*")))


def load_libpq_first() -> str | None:
    """``dlopen`` (RTLD_LOCAL) the libpq psycopg will use (its bundled one, else the system's); returns its path,
    or None when there is none."""
    for candidates in (_bundled_libpq, lambda: [p for p in [ctypes.util.find_library("pq")] if p]):
        for path in candidates():
            try:
                ctypes.CDLL(path)
                return path
            except OSError:
                continue
    return None


def load_psycopg2_libpq_first() -> str | None:
    """The same for psycopg2-binary's bundled libpq, when installed (the ``dagster`` extra); its path or None."""
    for path in _bundled_libpq("psycopg2"):
        try:
            ctypes.CDLL(path)
            return path
        except OSError:
            continue
    return None


LIBPQ = load_libpq_first()
LIBPQ_PSYCOPG2 = load_psycopg2_libpq_first()
