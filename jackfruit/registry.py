"""The registry of source profiles (``ports.Profiles``): every profile registered under the ``jackfruit.sources``
entry-point group, by dataset name. jackfruit's own datasets register the same way (``pyproject.toml``), so a team
adds a dataset in its own package without forking jackfruit:

    [project.entry-points."jackfruit.sources"]
    my-dataset = "my_package.my_dataset:PROFILE"

The core reaches datasets only through this module (import-linter forbids it to import ``jackfruit.sources``).
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any, Iterable, Mapping

from jackfruit.domain.errors import InvalidInput, NotFound
from jackfruit.ports.source import Profiles, SourceProfile

GROUP = "jackfruit.sources"


def _carries(request: Mapping[str, Any], fixed: Mapping[str, Any]) -> bool:
    def items(value: Any) -> list[str]:
        return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return all(key in request and items(request[key]) == items(value) for key, value in fixed.items())


class Registry(Profiles):
    """Profiles by name; ``Registry(profiles)`` for a fixed set (tests), ``Registry.discover()`` for the installed
    ones. Two profiles with one name, or an object that is not a ``SourceProfile``, is an ``InvalidInput`` naming
    the entry point."""

    def __init__(self, profiles: Iterable[SourceProfile]) -> None:
        self._by_name: dict[str, SourceProfile] = {}
        for profile in profiles:
            if not isinstance(profile, SourceProfile):
                raise InvalidInput(f"{profile!r} is not a source profile (jackfruit.ports.source.SourceProfile)")
            if profile.name in self._by_name:
                raise InvalidInput(f"two source profiles are registered as dataset {profile.name!r}")
            self._by_name[profile.name] = profile

    @classmethod
    def discover(cls) -> "Registry":
        loaded = []
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            profile = ep.load()
            if getattr(profile, "name", None) != ep.name:
                raise InvalidInput(f"entry point {ep.name!r} of group {GROUP!r} ({ep.value}) loads a profile named "
                                   f"{getattr(profile, 'name', None)!r}; the entry point's name must be the dataset's")
            loaded.append(profile)
        return cls(loaded)

    def get(self, name: str) -> SourceProfile:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound(f"no source profile for dataset {name!r}; registered: {sorted(self._by_name)}") from None

    def all(self) -> list[SourceProfile]:
        return [self._by_name[n] for n in sorted(self._by_name)]

    def for_variable(self, variable: str) -> list[SourceProfile]:
        found = []
        for p in self.all():
            try:
                p.check_variables([variable])
            except InvalidInput:
                continue
            found.append(p)
        return found

    def for_upstream(self, upstream_dataset: str, request: Mapping[str, Any]) -> SourceProfile:
        matches = [p for p in self.all() if p.upstream_dataset == upstream_dataset and _carries(request, p.fixed_fields)]
        if not matches and upstream_dataset in self._by_name:  # a caller that names jackfruit's dataset
            matches = [self._by_name[upstream_dataset]]
        if not matches:
            raise NotFound(f"no source profile answers upstream dataset {upstream_dataset!r} with this request")
        return max(matches, key=lambda p: len(p.fixed_fields))  # the most specific

    def synthetic_product(self, upstream_dataset: str, request: Mapping[str, Any]) -> bytes:
        """The synthetic answer of the profile that answers ``request`` (the in-memory runner's, the stub's)."""
        return self.for_upstream(upstream_dataset, request).synthetic_product(request)


@functools.cache
def default_registry() -> Registry:
    """The installed profiles, discovered once per process."""
    return Registry.discover()
