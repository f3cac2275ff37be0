package cams

import (
	"bufio"
	"io"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/grib2"
)

// Generate writes one GRIB2 message per (type, date, time, model, variable, level, leadtime),
// in that nesting order, to w. Output depends only on r and bits, never on the wall clock.
func Generate(w io.Writer, r *Request, bits int) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	vals := make([]float64, r.Grid.Points())
	var buf []byte
	var n int64
	for _, typ := range r.Types {
		var processed uint8 = 1
		if typ == "analysis" {
			processed = 0
		}
		for _, d := range r.Dates {
			for _, h := range r.Hours {
				base := d.Add(time.Duration(h) * time.Hour)
				for _, m := range r.Models {
					for _, v := range r.Variables {
						for _, lev := range r.Levels {
							for _, lt := range r.Leadtimes {
								Fill(vals, r.Grid, FieldKey{Variable: v, Model: m, Base: base, Level: lev, Leadtime: lt})
								msg := grib2.Message{
									Centre: m.Centre, SubCentre: m.SubCentre,
									RefTime: base, TypeOfProcessedData: processed,
									Grid:              r.Grid,
									ParameterCategory: 20, ParameterNumber: v.ParameterNumber,
									ConstituentType: v.ConstituentType,
									ForecastHours:   uint32(lt), HeightMetres: lev,
									BitsPerValue: bits, Values: vals,
								}
								var err error
								if buf, err = grib2.Append(buf[:0], &msg); err != nil {
									return n, err
								}
								k, err := bw.Write(buf)
								n += int64(k)
								if err != nil {
									return n, err
								}
							}
						}
					}
				}
			}
		}
	}
	return n, bw.Flush()
}
