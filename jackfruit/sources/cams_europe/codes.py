"""The one code table for CAMS Europe GRIB: species by (parameterNumber, constituentType), model by (centre, subCentre).

Sources: ECMWF "How to identify fields in European air-quality forecast grib files" and the ADS
adaptor's regional_fc_definitions.yaml (see docs/adr/0003-cams-code-table.md). A code pair not in
this table is an error naming the message: never ``unknown``, never a made-up name.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from jackfruit.domain.errors import InvalidInput

#: GRIB2 discipline / parameterCategory of atmospheric chemical constituents.
DISCIPLINE = 0
CATEGORY = 20
MASS_DENSITY = 0  # parameterNumber: mass density, kg m-3
POLLEN_COUNT = 59  # parameterNumber: number concentration, grains m-3


@dataclass(frozen=True)
class Species:
    name: str  # the ADS request name
    parameter_number: int
    constituent_type: int
    units: str
    long_name: str
    standard_name: str | None = None  # CF standard name where one exists
    older_constituent_types: tuple[int, ...] = ()  # earlier encodings of the same field, still decoded


def _mass(name: str, ctype: int, long_name: str, standard: str | None) -> Species:
    return Species(name, MASS_DENSITY, ctype, "kg m-3", long_name, standard)


def _pollen(name: str, ctype: int, long_name: str, older: tuple[int, ...] = ()) -> Species:
    return Species(name, POLLEN_COUNT, ctype, "m-3", long_name, None, older)


_SPECIES = (
    _mass("ozone", 0, "Ozone", "mass_concentration_of_ozone_in_air"),
    _mass("nitrogen_dioxide", 5, "Nitrogen dioxide", "mass_concentration_of_nitrogen_dioxide_in_air"),
    _mass("carbon_monoxide", 4, "Carbon monoxide", "mass_concentration_of_carbon_monoxide_in_air"),
    _mass("sulphur_dioxide", 8, "Sulphur dioxide", "mass_concentration_of_sulfur_dioxide_in_air"),
    _mass("ammonia", 9, "Ammonia", "mass_concentration_of_ammonia_in_air"),
    _mass("nitrogen_monoxide", 11, "Nitrogen monoxide", "mass_concentration_of_nitrogen_monoxide_in_air"),
    _mass("particulate_matter_10um", 40008, "PM10 aerosol",
          "mass_concentration_of_pm10_ambient_aerosol_particles_in_air"),
    _mass("particulate_matter_2.5um", 40009, "PM2.5 aerosol",
          "mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air"),
    _mass("dust", 62001, "Dust", "mass_concentration_of_dust_dry_aerosol_particles_in_air"),
    _mass("non_methane_vocs", 60013, "Non-methane volatile organic compounds", None),
    _mass("peroxyacyl_nitrates", 60018, "Peroxyacyl nitrates", None),
    _mass("secondary_inorganic_aerosol", 62099, "Secondary inorganic aerosol", None),
    _mass("formaldehyde", 7, "Formaldehyde", "mass_concentration_of_formaldehyde_in_air"),
    _mass("glyoxal", 10038, "Glyoxal", None),
    _mass("pm2.5_total_organic_matter", 62010, "PM2.5 total organic matter", None),
    _mass("pm10_sea_salt_dry", 62008, "PM10 sea salt (dry)", None),
    _mass("pm10_wildfires", 62096, "PM10 from wildfires", None),
    _mass("residential_elementary_carbon", 62094, "Residential elementary carbon", None),
    _mass("total_elementary_carbon", 62095, "Total elementary carbon", None),
    _mass("pm2.5_anthropogenic_fossil_fuel_carbon", 62097, "PM2.5 anthropogenic fossil fuel carbon", None),
    _mass("pm2.5_anthropogenic_wood_burning_carbon", 62098, "PM2.5 anthropogenic wood burning carbon", None),
    _pollen("alder_pollen", 62100, "Alder pollen"),
    _pollen("birch_pollen", 62101, "Birch pollen", (64000,)),
    _pollen("grass_pollen", 62300, "Grass pollen", (64001,)),
    _pollen("ragweed_pollen", 62200, "Ragweed pollen", (64003,)),
    _pollen("mugwort_pollen", 62201, "Mugwort pollen"),
    _pollen("olive_pollen", 64002, "Olive pollen"),
)

SPECIES_BY_NAME = MappingProxyType({s.name: s for s in _SPECIES})
SPECIES_BY_CODE = MappingProxyType({
    (s.parameter_number, ctype): s for s in _SPECIES for ctype in (s.constituent_type, *s.older_constituent_types)
})

#: model name -> (centre, subCentre)
MODELS = MappingProxyType({
    "ensemble": (85, 2),
    "chimere": (85, 200),
    "euradim": (85, 201),
    "dehm": (85, 203),
    "gemaq": (85, 204),
    "minni": (85, 205),
    "monarch": (85, 206),
    "mocage": (85, 1),
    "emep": (88, 0),
    "lotos": (99, 0),
    "match": (82, 98),
    "silam": (86, 0),
})
MODEL_BY_CODE = MappingProxyType({code: name for name, code in MODELS.items()})
#: model name -> the institution that runs it (CAMS regional production, METEO-FRANCE coordinating)
INSTITUTIONS = MappingProxyType({
    "ensemble": "CAMS regional ensemble (median of the regional models), METEO-FRANCE",
    "chimere": "INERIS (France)",
    "euradim": "Rhenish Institute for Environmental Research at the University of Cologne (Germany)",
    "dehm": "Aarhus University (Denmark)",
    "gemaq": "IEP-NRI (Poland)",
    "minni": "ENEA (Italy)",
    "monarch": "Barcelona Supercomputing Center (Spain)",
    "mocage": "METEO-FRANCE (France)",
    "emep": "MET Norway (Norway)",
    "lotos": "KNMI and TNO (Netherlands)",
    "match": "SMHI (Sweden)",
    "silam": "FMI (Finland)",
})
#: the licence of CAMS products, and the attribution it requires for each year of data used
LICENCE = ("Licence to use Copernicus Products "
           "(https://apps.ecmwf.int/datasets/licences/copernicus/)")
ATTRIBUTION = "Contains modified Copernicus Atmosphere Monitoring Service information {year}"

#: The four species the demo and the benchmark ingest.
MAIN_SPECIES = ("nitrogen_dioxide", "ozone", "particulate_matter_2.5um", "particulate_matter_10um")
LEVELS_M = (0, 50, 250, 500, 1000, 2000, 3000, 5000)


def species_for(where: str, discipline: int, category: int, number: int, constituent: int | None) -> Species:
    if (discipline, category) != (DISCIPLINE, CATEGORY) or constituent is None:
        raise InvalidInput(
            f"{where}: discipline {discipline} / category {category} / constituentType {constituent} "
            "is not an atmospheric-chemistry constituent (template 4.40) this table knows"
        )
    try:
        return SPECIES_BY_CODE[(number, constituent)]
    except KeyError:
        raise InvalidInput(
            f"{where}: (parameterNumber {number}, constituentType {constituent}) is not in the CAMS Europe "
            "species table"
        ) from None


def model_for(where: str, centre: int, sub_centre: int) -> str:
    try:
        return MODEL_BY_CODE[(centre, sub_centre)]
    except KeyError:
        raise InvalidInput(
            f"{where}: (centre {centre}, subCentre {sub_centre}) is not a CAMS Europe model in the table"
        ) from None


def check_variables(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in SPECIES_BY_NAME]
    if unknown:
        raise InvalidInput(f"unknown variable(s) {unknown}; known: {sorted(SPECIES_BY_NAME)}")
    return tuple(names)
