package cams

import (
	"bytes"
	"os"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/grib2"
)

// The real ADS file for this request lives in the Python repo's test data.
const refFile = "../../../tests/data/grib/cams-europe_ensemble_mugwort-pollen_2022-08-13to15_step0.grib"

func TestHeadersMatchRealCAMSFile(t *testing.T) {
	ref, err := os.ReadFile(refFile)
	if err != nil {
		t.Skipf("reference file not available: %v", err)
	}
	r, err := ParseRequest(map[string]any{"variable": "mugwort_pollen", "model": "ensemble", "level": "0",
		"date": "2022-08-13/2022-08-15", "type": "forecast", "time": "00:00", "leadtime_hour": "0", "format": "grib"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Generate(&out, r, 24); err != nil { // the real file is 24-bit
		t.Fatal(err)
	}
	if out.Len() != len(ref) || out.Len() != 3*grib2.EncodedLen(294000, 24) {
		t.Fatalf("size %d, reference %d", out.Len(), len(ref))
	}
	// Sections 0-4 and the section 5 header up to the packing parameters must be byte-identical;
	// only the reference value / binary scale (octets 12-17 of section 5) and the data differ.
	msgLen := len(ref) / 3
	for m := 0; m < 3; m++ {
		a, b := out.Bytes()[m*msgLen:], ref[m*msgLen:]
		hdr := 16 + 21 + 72 + 36
		if !bytes.Equal(a[:hdr], b[:hdr]) {
			for i := 0; i < hdr; i++ {
				if a[i] != b[i] {
					t.Fatalf("message %d differs from the real file at byte %d: % x vs % x", m, i, a[i:i+4], b[i:i+4])
				}
			}
		}
		if !bytes.Equal(a[hdr:hdr+11], b[hdr:hdr+11]) || !bytes.Equal(a[hdr+17:hdr+21+6+5], b[hdr+17:hdr+21+6+5]) {
			t.Fatalf("message %d section 5-7 headers differ", m)
		}
	}
}

func BenchmarkGenerateFullDomain(b *testing.B) {
	lt := []any{}
	for i := 0; i < 25; i++ {
		lt = append(lt, itoa(i))
	}
	r, _ := ParseRequest(map[string]any{"variable": []any{"ozone", "nitrogen_dioxide", "particulate_matter_2.5um", "particulate_matter_10um"},
		"model": "ensemble", "level": "0", "date": "2025-01-01", "type": "forecast", "time": "00:00", "leadtime_hour": lt, "data_format": "grib"})
	var n int64
	for i := 0; i < b.N; i++ {
		n, _ = Generate(discard{}, r, 16)
	}
	b.SetBytes(n)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
