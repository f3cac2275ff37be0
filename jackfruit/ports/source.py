"""Source profiles: everything dataset-specific, one profile per dataset, found by name in a registry.

A profile owns what differs between datasets: the upstream dataset id and the request fields it pins, the request
template and its validation, the variable table, the rule that names a GRIB message, the partitioning and the
availability horizon, the tiles' CF attributes, licence and attribution, and the synthetic product a stub or the
in-memory runner serves for it. The core (domain rules, use cases, adapters, CLI, orchestration) never imports a
dataset's package: it asks the profile the registry gives it (``Profiles``). Profiles are pure: standard library,
``jackfruit.domain`` and this port only; reading GRIB goes through the decoder port (``GribMessage``).

Errors: ``InvalidInput`` (a request, variable, model, level or day the dataset does not have; a message the
profile cannot name, naming the message and why), ``NotFound`` (``Profiles.get`` of an unknown dataset, naming
the known ones; ``Profiles.for_variable`` of a variable no dataset has).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from jackfruit.domain.acceptance import FieldKey
from jackfruit.domain.model import Dataset
from jackfruit.domain.tiling import GribMessage, MessageField


@runtime_checkable
class SourceProfile(Protocol):
    """One dataset. ``name`` is jackfruit's (the raw key's ``{dataset}``); ``upstream_dataset`` is the upstream's id
    (two profiles may share one, told apart by ``fixed_fields``); ``source`` is the upstream account (its
    concurrency pool and job cap are per source, not per dataset)."""

    name: str
    source: str
    upstream_dataset: str
    #: the request fields this dataset pins (e.g. ``{"type": ["analysis"]}``); overrides may not change them
    fixed_fields: Mapping[str, Any]
    #: the version of this definition; a change of anything recorded in the catalog's ``datasets`` row bumps it
    definition_version: int
    #: first partition day the upstream has (partitions and back-fills start there)
    first_day: date
    #: UTC hours of the cycles one partition day holds (``(0,)`` for one daily run)
    cycles: tuple[int, ...]
    licence: str
    #: what a read of this dataset selects when the caller names no model or level: (model, level type, value)
    default_model: str
    default_level: tuple[str, int]
    #: a tile's time axis (``jackfruit.domain.tiling.TIME_AXES``): ``lead_time`` (a tile per reference time, its
    #: lead times) or ``analysis_time`` (a tile per UTC day, its analysis times, each at lead time 0)
    time_axis: str
    #: the ecCodes concept names (``jackfruit.domain.tiling.GRIB_NAMES``) its ``name_message`` reads: the scans for
    #: this dataset report only these (each costs a process ~150 ms at its first lookup for paramId, shortName)
    grib_names: frozenset[str]

    def definition(self) -> Dataset:
        """The catalog's record of this dataset (template, variables, schedule, version)."""
        ...

    def available_until(self, now: datetime) -> date:
        """The last partition day the upstream can have at ``now`` (no day after it is asked for)."""
        ...

    def check_request(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """A user's request overrides, checked field by field as the upstream checks them, normalised (e.g.
        integers as the strings the upstream expects); ``InvalidInput`` naming the field."""
        ...

    def check_variables(self, names: Sequence[str]) -> tuple[str, ...]: ...

    def check_model(self, model: str) -> str: ...

    def check_level(self, level: int, level_type: str | None = None) -> int:
        """A level the dataset has: its value, of ``level_type`` (domain/levels.py) when given, of any of the
        dataset's level types otherwise; ``InvalidInput`` naming the dataset's levels."""
        ...

    def name_message(self, msg: GribMessage) -> MessageField:
        """The one rule naming a message of this dataset (tiling and acceptance both apply it); ``InvalidInput``
        naming the message and its first problem."""
        ...

    def expected_fields(self, request: Mapping[str, Any]) -> tuple[list[FieldKey], int]:
        """The fields a request asks for (the upstream's defaults where a list is absent), and how many messages
        each one is (once per requested type)."""
        ...

    def full_area(self) -> tuple[float, float, float, float]:
        """(N, W, S, E) of the cell edges of the dataset's whole grid: what a request without ``area`` gets."""
        ...

    def request_from_fields(self, fields: Sequence[FieldKey]) -> dict[str, Any]:
        """The request (without ``date`` and ``area``) whose answer holds these fields (``jackfruit land``)."""
        ...

    def data_attributes(self, variable: str) -> dict[str, Any]:
        """CF attributes of a variable's data: ``units``, ``long_name`` and ``standard_name`` where one exists."""
        ...

    def institution(self, model: str) -> str: ...

    def attribution(self, year: int) -> str:
        """The attribution the licence requires for data of ``year``."""
        ...

    def synthetic_product(self, request: Mapping[str, Any]) -> bytes:
        """A product shaped like the upstream's answer to ``request`` (deterministic; for stubs and the in-memory
        runner, never for real data)."""
        ...


@runtime_checkable
class Profiles(Protocol):
    """The registered profiles, by dataset name."""

    def get(self, name: str) -> SourceProfile:
        """``NotFound`` naming the registered datasets."""
        ...

    def all(self) -> list[SourceProfile]: ...

    def for_variable(self, variable: str) -> list[SourceProfile]:
        """The profiles whose dataset has ``variable``."""
        ...

    def for_upstream(self, upstream_dataset: str, request: Mapping[str, Any]) -> SourceProfile:
        """The profile whose upstream id is ``upstream_dataset`` and whose fixed fields ``request`` carries
        (``NotFound`` otherwise)."""
        ...
