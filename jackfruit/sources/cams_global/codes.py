"""The code table of ECMWF's global CAMS products (IFS-COMPO forecasts, the EAC4 reanalysis): each variable by its
ADS request name, its ECMWF parameter id and, where one exists, its GRIB2 template 4.40 constituent.

Sources (docs/adr/0015-cams-global-code-table.md): ECMWF's parameter database as ecCodes 2.50 ships it (every
paramId, shortName, units and CF name below is checked against the installed ecCodes by
tests/integration/test_cams_global_samples.py), the ADS request names of the two datasets' forms (as third-party
scripts use them, e.g. ``nitrogen_dioxide``, ``particulate_matter_2.5um``) and WMO GRIB2 code table 4.230
(constituent types). A message the table does not know is refused naming it: never ``unknown``.

How ECMWF writes one parameter: GRIB1 with local table 2 version ``paramId // 1000`` and indicatorOfParameter
``paramId % 1000`` (the global sample's pm2p5, pm10, no2 on pressure levels, all of EAC4); GRIB2 with the local
discipline 192, parameterCategory ``paramId // 1000`` and parameterNumber ``paramId % 1000`` (the sample's no2 on
model levels); GRIB2 template 4.40, discipline 0 / category 20, parameterNumber (0 mass density, 2 mass mixing
ratio) and constituentType (the chemistry sample: CO 4, HCHO 7, O3 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from jackfruit.domain.errors import InvalidInput

SINGLE, MULTI = "single", "multi"  # single-level (at the surface) or on pressure and model levels
MASS_DENSITY, MASS_MIXING_RATIO = 0, 2  # GRIB2 4.40 parameterNumber (discipline 0, category 20)
ECMWF_LOCAL_DISCIPLINE = 192
MODEL = "ifs"  # ECMWF's Integrated Forecasting System (IFS-COMPO), centre 98 (ecmf): both datasets' only model
ECMWF_CENTRE = 98


@dataclass(frozen=True)
class Variable:
    name: str  # the ADS request name
    param_id: int  # ECMWF parameter id
    short_name: str  # ECMWF/ecCodes short name
    kind: str  # SINGLE or MULTI
    units: str  # CF units
    long_name: str
    standard_name: str | None = None
    constituent: tuple[int, int] | None = None  # GRIB2 4.40 (parameterNumber, constituentType)


def _multi(name: str, pid: int, short: str, long_name: str, standard: str, ctype: int | None) -> Variable:
    return Variable(name, pid, short, MULTI, "kg kg-1", long_name, standard,
                    None if ctype is None else (MASS_MIXING_RATIO, ctype))


_VARIABLES = (
    Variable("particulate_matter_1um", 210072, "pm1", SINGLE, "kg m-3", "Particulate matter d <= 1 um",
             "mass_concentration_of_pm1_ambient_aerosol_particles_in_air", (MASS_DENSITY, 40010)),
    Variable("particulate_matter_2.5um", 210073, "pm2p5", SINGLE, "kg m-3", "Particulate matter d <= 2.5 um",
             "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air", (MASS_DENSITY, 40009)),
    Variable("particulate_matter_10um", 210074, "pm10", SINGLE, "kg m-3", "Particulate matter d <= 10 um",
             "mass_concentration_of_pm10_ambient_aerosol_particles_in_air", (MASS_DENSITY, 40008)),
    Variable("total_column_nitrogen_dioxide", 210125, "tcno2", SINGLE, "kg m-2", "Total column nitrogen dioxide",
             "atmosphere_mass_content_of_nitrogen_dioxide"),
    Variable("total_column_sulphur_dioxide", 210126, "tcso2", SINGLE, "kg m-2", "Total column sulphur dioxide",
             "atmosphere_mass_content_of_sulfur_dioxide"),
    Variable("total_column_carbon_monoxide", 210127, "tcco", SINGLE, "kg m-2", "Total column carbon monoxide",
             "atmosphere_mass_content_of_carbon_monoxide"),
    Variable("total_aerosol_optical_depth_550nm", 210207, "aod550", SINGLE, "1",
             "Total aerosol optical depth at 550 nm"),
    _multi("nitrogen_dioxide", 210121, "no2", "Nitrogen dioxide mass mixing ratio",
           "mass_fraction_of_nitrogen_dioxide_in_air", 5),
    _multi("sulphur_dioxide", 210122, "so2", "Sulphur dioxide mass mixing ratio",
           "mass_fraction_of_sulfur_dioxide_in_air", 8),
    _multi("carbon_monoxide", 210123, "co", "Carbon monoxide mass mixing ratio",
           "mass_fraction_of_carbon_monoxide_in_air", 4),
    _multi("formaldehyde", 210124, "hcho", "Formaldehyde mass mixing ratio", "mass_fraction_of_formaldehyde_in_air", 7),
    _multi("ozone", 210203, "go3", "Ozone mass mixing ratio", "mass_fraction_of_ozone_in_air", 0),
    _multi("nitrogen_monoxide", 217027, "no", "Nitrogen monoxide mass mixing ratio",
           "mass_fraction_of_nitrogen_monoxide_in_air", 11),
)

VARIABLES = MappingProxyType({v.name: v for v in _VARIABLES})
BY_PARAM_ID = MappingProxyType({v.param_id: v for v in _VARIABLES})
BY_CONSTITUENT = MappingProxyType({v.constituent: v for v in _VARIABLES if v.constituent})

#: the 25 pressure levels (hPa) of both datasets' forms
PRESSURE_LEVELS = (1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 850, 900,
                   925, 950, 1000)

#: the licence of CAMS products on the ADS (both datasets' "Licence to use Copernicus Products"), and the
#: attribution it requires for each year of data used
LICENCE = ("Licence to use Copernicus Products "
           "(https://apps.ecmwf.int/datasets/licences/copernicus/)")
ATTRIBUTION = "Contains modified Copernicus Atmosphere Monitoring Service information {year}"
INSTITUTION = "European Centre for Medium-Range Weather Forecasts (ECMWF), Copernicus Atmosphere Monitoring Service"


def variable_for(where: str, edition: int, discipline: int, category: int, number: int, constituent: int | None,
                 template: int, table2_version: int | None, indicator: int | None) -> Variable:
    """The variable a message holds, from its edition's own keys (see the module docstring)."""
    if edition == 1:
        if table2_version is None or indicator is None:
            raise InvalidInput(f"{where}: GRIB1 message without a parameter table and number")
        pid = table2_version * 1000 + indicator if table2_version >= 200 else indicator
        found = BY_PARAM_ID.get(pid)
        what = f"GRIB1 table 2 version {table2_version} parameter {indicator} (paramId {pid})"
    elif discipline == ECMWF_LOCAL_DISCIPLINE:
        pid = category * 1000 + number
        found = BY_PARAM_ID.get(pid)
        what = f"GRIB2 ECMWF local discipline 192 / category {category} / number {number} (paramId {pid})"
    elif (discipline, category) == (0, 20) and template == 40 and constituent is not None:
        found = BY_CONSTITUENT.get((number, constituent))
        what = f"GRIB2 template 4.40 parameterNumber {number} / constituentType {constituent}"
    else:
        raise InvalidInput(f"{where}: GRIB{edition} discipline {discipline} / category {category} / number {number} "
                           f"(template {template}) is neither an ECMWF parameter nor a template 4.40 constituent")
    if found is None:
        raise InvalidInput(f"{where}: {what} is not in the CAMS global variable table")
    return found


def check_variables(names: list[str] | tuple[str, ...], known: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(f"unknown variable(s) {unknown}; known: {sorted(known)}")
    return tuple(names)
