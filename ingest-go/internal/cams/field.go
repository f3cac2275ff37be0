package cams

import (
	"hash/fnv"
	"math"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/grib2"
)

// FieldKey identifies one synthetic field.
type FieldKey struct {
	Variable Variable
	Model    Model
	Base     time.Time // date + time
	Level    int
	Leadtime int
}

// phase turns a name into a stable angle so each variable/model gets its own pattern.
func phase(s string, salt uint32) float64 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return float64(h.Sum32()^salt) / float64(math.MaxUint32) * 2 * math.Pi
}

// Fill writes the synthetic field for k on grid g into dst (len g.Points()).
// The field is smooth, strictly positive, never constant, and a pure function of
// (lat, lon, leadtime, variable, model, date, level) so an area subset reproduces the full-domain
// values at the same points. It is built from per-row and per-column terms (sin(a+b) expanded)
// so each point costs a few multiply-adds: generation speed matters for 60 MB assets.
func Fill(dst []float64, g grib2.Grid, k FieldKey) {
	pv := phase(k.Variable.Name, 0)
	pm := phase(k.Model.Name, 0x9e3779b9)
	valid := k.Base.Add(time.Duration(k.Leadtime) * time.Hour)
	doy := float64(valid.YearDay())
	hour := float64(valid.Hour())
	// Diurnal and seasonal modulation; moves with leadtime and date.
	temporal := (1 + 0.3*math.Sin(2*math.Pi*hour/24+pv)) * (1 + 0.2*math.Sin(2*math.Pi*doy/365.25+pm))
	height := math.Exp(-float64(k.Level) / 3000)
	amp := k.Variable.Typical * temporal * height
	drift := 0.05 * float64(k.Leadtime) // pattern drifts eastwards with leadtime

	const k1, k2, k3 = 0.21, 0.17, 0.11
	nj, ni := g.Nj, g.Ni
	rowS, rowC, rowA, rowB := make([]float64, nj), make([]float64, nj), make([]float64, nj), make([]float64, nj)
	for j := 0; j < nj; j++ {
		lat := g.Lat(j)
		rowS[j] = math.Sin(lat*k1 + pv)
		rowC[j] = math.Cos(lat*k1 + pv)
		rowA[j] = math.Sin(lat*k3 + pm)
		rowB[j] = math.Cos(lat*k3 + pm)
	}
	colC, colS, colA, colB := make([]float64, ni), make([]float64, ni), make([]float64, ni), make([]float64, ni)
	for i := 0; i < ni; i++ {
		lon := g.Lon(i) - drift
		colC[i] = math.Cos(lon*k2 + pm)
		colS[i] = math.Sin(lon*k2 + pm)
		colA[i] = math.Cos(lon * k3)
		colB[i] = math.Sin(lon * k3)
	}
	for j := 0; j < nj; j++ {
		row := dst[j*ni : (j+1)*ni]
		s, c, a, b := rowS[j], rowC[j], rowA[j], rowB[j]
		for i := range row {
			// 0.55 + 0.25*sin(lat)cos(lon) + 0.1*cos(lat)sin(lon) + 0.1*sin(lat+lon): within [0.1, 1.0].
			v := 0.55 + 0.25*s*colC[i] + 0.1*c*colS[i] + 0.1*(a*colA[i]+b*colB[i])
			row[i] = amp * v
		}
	}
}
