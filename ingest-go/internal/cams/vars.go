// Package cams describes the ADS dataset cams-europe-air-quality-forecasts: its request schema, GRIB identities and synthetic fields.
package cams

// Dataset is the only process the stub serves.
const Dataset = "cams-europe-air-quality-forecasts"

// Variable is one requestable variable and its GRIB2 identity (template 4.40, discipline 0, category 20).
type Variable struct {
	Name            string
	ParameterNumber uint8   // 0 mass density (kg m-3), 59 number concentration (grains m-3)
	ConstituentType uint16  // WMO Code Table 4.230 or the CAMS local range
	Typical         float64 // typical near-surface magnitude in the GRIB unit, drives the synthetic field
}

// Variables is the complete, auditable table. Codes are the current grib_representations in
// cads-adaptors cads_adaptors/adaptors/cams_regional_fc/config/regional_fc_definitions.yaml
// (commit 48196da); where that file lists an older encoding too (birch 64000, grass 64001,
// ragweed 64003) we use the newer one, which is what current files carry. Magnitudes are
// order-of-magnitude European background values, only there to make fields plausible.
var Variables = []Variable{
	{"alder_pollen", 59, 62100, 40},
	{"ammonia", 0, 9, 6e-9},
	{"birch_pollen", 59, 62101, 60},
	{"carbon_monoxide", 0, 4, 2e-7},
	{"dust", 0, 62001, 1e-8},
	{"formaldehyde", 0, 7, 2e-9},
	{"glyoxal", 0, 10038, 5e-10},
	{"grass_pollen", 59, 62300, 50},
	{"mugwort_pollen", 59, 62201, 20},
	{"nitrogen_dioxide", 0, 5, 2e-8},
	{"nitrogen_monoxide", 0, 11, 5e-9},
	{"non_methane_vocs", 0, 60013, 3e-8},
	{"olive_pollen", 59, 64002, 30},
	{"ozone", 0, 0, 8e-8},
	{"particulate_matter_2.5um", 0, 40009, 1.2e-8},
	{"particulate_matter_10um", 0, 40008, 2e-8},
	{"peroxyacyl_nitrates", 0, 60018, 1e-9},
	{"pm2.5_anthropogenic_fossil_fuel_carbon", 0, 62097, 1e-9},  // hidden on the form, API-accepted
	{"pm2.5_anthropogenic_wood_burning_carbon", 0, 62098, 1e-9}, // hidden on the form, API-accepted
	{"pm2.5_total_organic_matter", 0, 62010, 4e-9},
	{"pm10_sea_salt_dry", 0, 62008, 3e-9},
	{"pm10_wildfires", 0, 62096, 1e-9},
	{"ragweed_pollen", 59, 62200, 10},
	{"residential_elementary_carbon", 0, 62094, 1e-9},
	{"secondary_inorganic_aerosol", 0, 62099, 6e-9},
	{"sulphur_dioxide", 0, 8, 4e-9},
	{"total_elementary_carbon", 0, 62095, 1.5e-9},
}

// Model is one requestable model and the originating centre it is encoded with.
type Model struct {
	Name              string
	Centre, SubCentre uint16
}

// Models lists the models with the centre/subCentre pairs from the same YAML file.
var Models = []Model{
	{"ensemble", 85, 2},
	{"chimere", 85, 200},
	{"dehm", 85, 203},
	{"emep", 88, 0},
	{"euradim", 85, 201},
	{"gemaq", 85, 204},
	{"lotos", 99, 0},
	{"match", 82, 98},
	{"minni", 85, 205},
	{"mocage", 85, 1},
	{"monarch", 85, 206},
	{"silam", 86, 0},
}

// Levels are the allowed heights in metres (0 = surface).
var Levels = []int{0, 50, 250, 500, 1000, 2000, 3000, 5000}

func lookupVariable(name string) (Variable, bool) {
	for _, v := range Variables {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

func lookupModel(name string) (Model, bool) {
	for _, m := range Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}
