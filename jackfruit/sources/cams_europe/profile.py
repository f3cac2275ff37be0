"""``CamsEuropeProfile``: the CAMS European air-quality products of the ADS (one upstream dataset,
``cams-europe-air-quality-forecasts``), as forecasts (this package's ``PROFILE``) or analyses
(``jackfruit.sources.cams_europe_analysis``): the same code table, grid and licence; the request type pinned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from jackfruit.domain.acceptance import FieldKey
from jackfruit.domain.errors import InvalidInput
from jackfruit.domain.model import Dataset
from jackfruit.domain.tiling import ANALYSIS_TIME, LEAD_TIME, GribMessage, MessageField

from . import codes, fields, naming, request

UPSTREAM = "cams-europe-air-quality-forecasts"


@dataclass(frozen=True)
class CamsEuropeProfile:
    name: str
    request_type: str  # "forecast" or "analysis": pinned
    template: Mapping[str, Any]
    description: str
    schedule: str | None
    definition_version: int = 1
    first_day: date = date(2023, 1, 1)
    cycles: tuple[int, ...] = (0,)
    source: str = "ads"
    upstream_dataset: str = UPSTREAM
    licence: str = codes.LICENCE
    default_model: str = "ensemble"
    default_level: tuple[str, int] = ("height", 0)
    fixed_fields: Mapping[str, Any] = field(default_factory=dict)
    #: the naming reads GRIB2 codes only (discipline, category, number, constituent, level type), no ecCodes name
    grib_names: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        pinned: dict[str, Any] = {"type": [self.request_type]}
        if self.request_type == "analysis":
            pinned["leadtime_hour"] = ["0"]
        object.__setattr__(self, "fixed_fields", pinned)

    @property
    def time_axis(self) -> str:
        """Analyses: one tile per UTC day of hourly analyses; forecasts: one tile per reference time."""
        return ANALYSIS_TIME if self.request_type == "analysis" else LEAD_TIME

    def definition(self) -> Dataset:
        return Dataset(source=self.source, name=self.name, request_template=dict(self.template),
                       variables=tuple(codes.SPECIES_BY_NAME), ext="grib", description=self.description,
                       schedule=self.schedule, upstream_dataset=self.upstream_dataset,
                       version=self.definition_version)

    def available_until(self, now: datetime) -> date:
        return request.available_until(now)

    def check_request(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        for key, pinned in self.fixed_fields.items():
            if key in overrides:
                value = overrides[key]
                given = [str(v) for v in (value if isinstance(value, list) else [value])]
                if given != pinned:
                    raise InvalidInput(f"request field {key!r} is fixed to {pinned} in dataset {self.name!r}, got "
                                       f"{given}" + ("; analyses are the dataset cams-europe-air-quality-forecasts-"
                                                     "analysis" if key == "type" and "analysis" in given else ""))
        return request.check_request(dict(overrides), default_type=self.request_type)

    def check_variables(self, names: Sequence[str]) -> tuple[str, ...]:
        return codes.check_variables(list(names))

    def check_model(self, model: str) -> str:
        return request.check_model(model)

    def check_level(self, level: int, level_type: str | None = None) -> int:
        if level_type not in (None, "height"):
            raise InvalidInput(f"level type {level_type!r}: the levels of {self.name} are heights above ground (m)")
        return request.check_level(level)

    def name_message(self, msg: GribMessage) -> MessageField:
        return naming.name_message(msg)

    def expected_fields(self, req: Mapping[str, Any]) -> tuple[list[FieldKey], int]:
        return fields.expected_fields(req, self.request_type)

    def full_area(self) -> tuple[float, float, float, float]:
        return fields.DOMAIN

    def request_from_fields(self, keys: Sequence[FieldKey]) -> dict[str, Any]:
        return fields.request_from_fields(keys, self.request_type)

    def data_attributes(self, variable: str) -> dict[str, Any]:
        species = codes.SPECIES_BY_NAME[variable]
        attrs: dict[str, Any] = {"units": species.units, "long_name": species.long_name}
        if species.standard_name:
            attrs["standard_name"] = species.standard_name
        return attrs

    def institution(self, model: str) -> str:
        return codes.INSTITUTIONS.get(model, model)

    def attribution(self, year: int) -> str:
        return codes.ATTRIBUTION.format(year=year)

    def synthetic_product(self, req: Mapping[str, Any]) -> bytes:
        from .synthetic import grib_for_request  # ecCodes only where a synthetic product is asked for
        return grib_for_request(self.upstream_dataset, req)
