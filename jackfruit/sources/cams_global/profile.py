"""``CamsGlobalProfile``: ECMWF's global CAMS products on the ADS, the forecasts (this package's ``PROFILE``) and the
EAC4 reanalysis (``jackfruit.sources.cams_eac4``): one code table, one naming rule, typed levels, a regular
global grid (0..360) or the request's area; what differs (request fields, times, lead times, grid step, horizon)
is the profile's configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from jackfruit.domain.acceptance import FieldKey
from jackfruit.domain import levels
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.model import Dataset
from jackfruit.domain.tiling import ANALYSIS_TIME, LEAD_TIME, GribMessage, MessageField

from . import codes, fields, naming, request


@dataclass(frozen=True)
class CamsGlobalProfile:
    name: str
    upstream_dataset: str
    template: Mapping[str, Any]
    description: str
    schedule: str | None
    first_day: date
    cycles: tuple[int, ...]  # UTC hours of the reference times one partition day holds
    grid_step: float  # degrees of the whole global grid (0..360, north to south)
    variables: tuple[str, ...]
    max_model_level: int
    horizon: Callable[[datetime], date]  # available_until
    max_leadtime: int | None = None  # None: analyses (no lead time, no ``type``)
    multi_level_step: int = 1  # lead-time spacing of multi-level fields (hours)
    #: real messages the synthetic product is written from: "grib1" (surface and pressure levels, and model
    #: levels without a "grib2"), "grib2" (model levels)
    synthetic_templates: Mapping[str, Path] = field(default_factory=dict)
    #: what a read selects when the caller names no level (the template's first species' level)
    default_level: tuple[str, int] = (levels.SURFACE, 0)
    default_model: str = codes.MODEL
    definition_version: int = 1
    source: str = "ads"
    licence: str = codes.LICENCE
    fixed_fields: Mapping[str, Any] = field(default_factory=dict)
    #: the naming reads ecCodes' typeOfLevel (the level's kind in both editions) and stepType (instantaneous)
    grib_names: frozenset[str] = frozenset({"type_of_level", "step_type"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed_fields", {"type": ["forecast"]} if self.forecast else {})

    @property
    def forecast(self) -> bool:
        return self.max_leadtime is not None

    @property
    def time_axis(self) -> str:
        """Analyses (EAC4): one tile per UTC day of its analysis times; forecasts: one tile per reference time."""
        return LEAD_TIME if self.forecast else ANALYSIS_TIME

    @property
    def rules(self) -> request.RequestRules:
        return request.RequestRules(self.variables, self.cycles, self.max_model_level, self.max_leadtime)

    def definition(self) -> Dataset:
        return Dataset(source=self.source, name=self.name, request_template=dict(self.template),
                       variables=self.variables, ext="grib", description=self.description, schedule=self.schedule,
                       upstream_dataset=self.upstream_dataset, version=self.definition_version)

    def available_until(self, now: datetime) -> date:
        return self.horizon(now)

    def check_request(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        return request.check_request(overrides, self.rules)

    def check_variables(self, names: Sequence[str]) -> tuple[str, ...]:
        return codes.check_variables(list(names), self.variables)

    def check_model(self, model: str) -> str:
        if model != codes.MODEL:
            raise InvalidInput(f"model {model!r} is not a model of {self.name}; known: [{codes.MODEL!r}]")
        return model

    def check_level(self, level: int, level_type: str | None = None) -> int:
        allowed = {"surface": level == 0, "pressure": level in codes.PRESSURE_LEVELS,
                   "model": 1 <= level <= self.max_model_level}
        if level_type is not None and level_type not in allowed:
            raise InvalidInput(f"level type {level_type!r}: the levels of {self.name} are surface, pressure (hPa) "
                               "and model levels")
        if not (allowed[level_type] if level_type is not None else any(allowed.values())):
            raise InvalidInput(f"level {level} is not a level of {self.name}: 0 (surface), a pressure level "
                               f"{list(codes.PRESSURE_LEVELS)} (hPa) or a model level 1..{self.max_model_level}")
        return level

    def name_message(self, msg: GribMessage) -> MessageField:
        return naming.name_message(msg)

    def expected_fields(self, req: Mapping[str, Any]) -> tuple[list[FieldKey], int]:
        return fields.expected_fields(req, self.forecast, self.multi_level_step)

    def full_area(self) -> tuple[float, float, float, float]:
        half = self.grid_step / 2
        return (90.0 + half, -half, -90.0 - half, 360.0 - half)

    def request_from_fields(self, keys: Sequence[FieldKey]) -> dict[str, Any]:
        return fields.request_from_fields(keys, self.forecast)

    def data_attributes(self, variable: str) -> dict[str, Any]:
        v = codes.VARIABLES[variable]
        attrs: dict[str, Any] = {"units": v.units, "long_name": v.long_name}
        if v.standard_name:
            attrs["standard_name"] = v.standard_name
        return attrs

    def institution(self, model: str) -> str:
        return codes.INSTITUTION

    def attribution(self, year: int) -> str:
        return codes.ATTRIBUTION.format(year=year)

    def synthetic_product(self, req: Mapping[str, Any]) -> bytes:
        from .synthetic import grib_for_request  # ecCodes only where a synthetic product is asked for
        return grib_for_request(self, req)
