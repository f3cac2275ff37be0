package grib2

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"
)

func sample(bits int) *Message {
	g := Grid{Ni: 7, Nj: 5, La1: 71_950_000, Lo1: -24_950_000, Di: 100_000, Dj: 100_000}
	vals := make([]float64, g.Points())
	for i := range vals {
		vals[i] = 1e-8 * (1 + 0.5*math.Sin(float64(i)))
	}
	return &Message{Centre: 85, SubCentre: 2, RefTime: time.Date(2022, 8, 13, 6, 0, 0, 0, time.UTC),
		TypeOfProcessedData: 1, Grid: g, ParameterCategory: 20, ParameterNumber: 59, ConstituentType: 62201,
		ForecastHours: 12, HeightMetres: 500, BitsPerValue: bits, Values: vals}
}

func TestLayoutMatchesCAMSReference(t *testing.T) {
	m := sample(16)
	b, err := Append(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	n := m.Grid.Points()
	if want := EncodedLen(n, 16); len(b) != want || int(be.Uint64(b[8:])) != want {
		t.Fatalf("length %d / header %d, want %d", len(b), be.Uint64(b[8:]), want)
	}
	if string(b[:4]) != "GRIB" || b[6] != 0 || b[7] != 2 || string(b[len(b)-4:]) != "7777" {
		t.Fatalf("bad indicator/end: % x", b[:8])
	}
	// Walk sections: number and length at the offsets the real CAMS file has.
	off := 16
	for _, s := range []struct {
		num byte
		len int
	}{{1, 21}, {3, 72}, {4, 36}, {5, 21}, {6, 6}, {7, 5 + 2*n}} {
		if got := int(be.Uint32(b[off:])); got != s.len || b[off+4] != s.num {
			t.Fatalf("section at %d: num %d len %d, want %d/%d", off, b[off+4], got, s.num, s.len)
		}
		off += s.len
	}
	s1 := b[16:]
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"centre", uint64(be.Uint16(s1[5:])), 85},
		{"subCentre", uint64(be.Uint16(s1[7:])), 2},
		{"tablesVersion", uint64(s1[9]), 21},
		{"sigRefTime", uint64(s1[11]), 1},
		{"year", uint64(be.Uint16(s1[12:])), 2022},
		{"hour", uint64(s1[16]), 6},
		{"productionStatus", uint64(s1[19]), 2},
		{"typeOfProcessedData", uint64(s1[20]), 1},
	}
	s3 := s1[21:]
	checks = append(checks, []struct {
		name      string
		got, want uint64
	}{
		{"numberOfDataPoints", uint64(be.Uint32(s3[6:])), 35},
		{"Ni", uint64(be.Uint32(s3[30:])), 7},
		{"Nj", uint64(be.Uint32(s3[34:])), 5},
		{"La1", uint64(be.Uint32(s3[46:])), 71_950_000},
		{"Lo1", uint64(be.Uint32(s3[50:])), 335_050_000}, // -24.95 normalised to 0..360
		{"resFlags", uint64(s3[54]), 48},
		{"La2", uint64(be.Uint32(s3[55:])), 71_550_000},
		{"Lo2", uint64(be.Uint32(s3[59:])), 335_650_000},
		{"Di", uint64(be.Uint32(s3[63:])), 100_000},
		{"scanningMode", uint64(s3[71]), 0},
	}...)
	s4 := s3[72:]
	checks = append(checks, []struct {
		name      string
		got, want uint64
	}{
		{"pdtn", uint64(be.Uint16(s4[7:])), 40},
		{"category", uint64(s4[9]), 20},
		{"number", uint64(s4[10]), 59},
		{"constituent", uint64(be.Uint16(s4[11:])), 62201},
		{"genProcess", uint64(s4[13]), 2},
		{"genProcessId", uint64(s4[15]), 99},
		{"unit", uint64(s4[19]), 1},
		{"forecastTime", uint64(be.Uint32(s4[20:])), 12},
		{"surface1", uint64(s4[24]), 103},
		{"scaledValue1", uint64(be.Uint32(s4[26:])), 500},
		{"surface2", uint64(s4[30]), 255},
	}...)
	s5 := s4[36:]
	checks = append(checks, []struct {
		name      string
		got, want uint64
	}{
		{"drtn", uint64(be.Uint16(s5[9:])), 0},
		{"bits", uint64(s5[19]), 16},
		{"decimal", uint64(be.Uint16(s5[17:])), 0},
		{"bitmap", uint64(s5[21+5]), 255},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestSurfaceLevelAndPositiveLon(t *testing.T) {
	m := sample(16)
	m.HeightMetres = 0
	m.Grid.Lo1 = 5_050_000
	b, _ := Append(nil, m)
	s3 := b[16+21:]
	s4 := s3[72:]
	if s4[24] != 1 || binary.BigEndian.Uint32(s4[26:]) != 0 {
		t.Fatalf("level 0 must be surface(1) value 0, got %d/%d", s4[24], binary.BigEndian.Uint32(s4[26:]))
	}
	if got := binary.BigEndian.Uint32(s3[50:]); got != 5_050_000 {
		t.Fatalf("Lo1 = %d", got)
	}
}

func TestRoundTripPrecision(t *testing.T) {
	for _, bits := range []int{8, 12, 16, 24, 31} {
		m := sample(bits)
		b, err := Append(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := m.Values[0], m.Values[0]
		for _, v := range m.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		tol := (hi - lo) / (math.Ldexp(1, bits) - 1) // one quantum; rounding error is half that
		for i, v := range d.Values {
			if math.Abs(v-m.Values[i]) > tol {
				t.Fatalf("bits %d value %d: got %g want %g (tol %g)", bits, i, v, m.Values[i], tol)
			}
		}
		if d.BitsPerValue != bits || d.Ni != 7 || d.Nj != 5 || d.ConstituentType != 62201 || d.ForecastHours != 12 {
			t.Fatalf("decoded header %+v", d)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := Append(nil, sample(16))
	b, _ := Append(nil, sample(16))
	if !bytes.Equal(a, b) {
		t.Fatal("same message encoded differently")
	}
}

func TestRejectsBadInput(t *testing.T) {
	m := sample(16)
	m.Values = m.Values[:3]
	if _, err := Append(nil, m); err == nil {
		t.Fatal("accepted wrong value count")
	}
	m = sample(0)
	if _, err := Append(nil, m); err == nil {
		t.Fatal("accepted 0 bits")
	}
}
