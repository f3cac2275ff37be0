// Package grib2 encodes GRIB edition 2 messages (grid template 3.0, product template 4.40, simple packing 5.0).
package grib2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Section lengths fixed by the templates we emit; they match real CAMS Europe files byte for byte.
const (
	Sec0Len = 16
	Sec1Len = 21
	Sec3Len = 72
	Sec4Len = 36
	Sec5Len = 21
	Sec6Len = 6
	Sec7Hdr = 5
	Sec8Len = 4
)

// Grid is a regular lat/lon grid in integer micro-degrees, scanning mode 0 (N→S rows, W→E columns).
// Integer micro-degrees avoid float drift in the encoded section 3 and in area snapping.
type Grid struct {
	Ni, Nj   int
	La1, Lo1 int64 // first point (north-west); Lo1 may be negative, it is normalised when encoded
	Di, Dj   int64 // increments
}

// La2 is the latitude of the last (south-most) row.
func (g Grid) La2() int64 { return g.La1 - int64(g.Nj-1)*g.Dj }

// Lo2 is the longitude of the last (east-most) column.
func (g Grid) Lo2() int64 { return g.Lo1 + int64(g.Ni-1)*g.Di }

// Lat returns row j's latitude in degrees.
func (g Grid) Lat(j int) float64 { return float64(g.La1-int64(j)*g.Dj) / 1e6 }

// Lon returns column i's longitude in degrees (-180..180 convention as given by Lo1).
func (g Grid) Lon(i int) float64 { return float64(g.Lo1+int64(i)*g.Di) / 1e6 }

// Points is Ni*Nj.
func (g Grid) Points() int { return g.Ni * g.Nj }

// Message holds everything that varies between the messages we produce.
type Message struct {
	Centre, SubCentre   uint16
	RefTime             time.Time // significance 1 (start of forecast)
	TypeOfProcessedData uint8     // 0 analysis, 1 forecast
	Grid                Grid
	ParameterCategory   uint8
	ParameterNumber     uint8
	ConstituentType     uint16
	ForecastHours       uint32
	HeightMetres        int // 0 → surface (type 1), else heightAboveGround (type 103)
	BitsPerValue        int // 1..32
	Values              []float64
}

// EncodedLen is the total message length for n values at the given bit width.
func EncodedLen(n, bits int) int {
	return Sec0Len + Sec1Len + Sec3Len + Sec4Len + Sec5Len + Sec6Len + Sec7Hdr + (n*bits+7)/8 + Sec8Len
}

// Append encodes m and appends it to dst.
func Append(dst []byte, m *Message) ([]byte, error) {
	n := m.Grid.Points()
	if n == 0 || len(m.Values) != n {
		return dst, fmt.Errorf("grib2: %d values for a %dx%d grid", len(m.Values), m.Grid.Ni, m.Grid.Nj)
	}
	if m.BitsPerValue < 1 || m.BitsPerValue > 32 {
		return dst, errors.New("grib2: bits per value must be 1..32")
	}
	total := EncodedLen(n, m.BitsPerValue)
	start := len(dst)
	dst = grow(dst, total)
	b := dst[start:]
	be := binary.BigEndian

	// Section 0: indicator. Octets 5-6 reserved (0xffff as in the real files), discipline 0.
	copy(b[0:4], "GRIB")
	b[4], b[5], b[6], b[7] = 0xff, 0xff, 0, 2
	be.PutUint64(b[8:16], uint64(total))
	p := b[16:]

	// Section 1: identification.
	be.PutUint32(p[0:], Sec1Len)
	p[4] = 1
	be.PutUint16(p[5:], m.Centre)
	be.PutUint16(p[7:], m.SubCentre)
	p[9] = 21 // tablesVersion
	p[10] = 0 // localTablesVersion
	p[11] = 1 // significanceOfReferenceTime: start of forecast
	t := m.RefTime.UTC()
	be.PutUint16(p[12:], uint16(t.Year()))
	p[14], p[15], p[16] = byte(t.Month()), byte(t.Day()), byte(t.Hour())
	p[17], p[18] = byte(t.Minute()), byte(t.Second())
	p[19] = 2 // productionStatus: research (as CAMS)
	p[20] = m.TypeOfProcessedData
	p = p[Sec1Len:]

	// Section 3: grid definition, template 3.0.
	g := m.Grid
	be.PutUint32(p[0:], Sec3Len)
	p[4] = 3
	p[5] = 0
	be.PutUint32(p[6:], uint32(n))
	p[10], p[11] = 0, 0
	be.PutUint16(p[12:], 0)
	p[14] = 0 // shapeOfTheEarth: sphere R=6367470 m; the radius/axis fields below are missing
	p[15] = 0xff
	be.PutUint32(p[16:], 0xffffffff)
	p[20] = 0xff
	be.PutUint32(p[21:], 0xffffffff)
	p[25] = 0xff
	be.PutUint32(p[26:], 0xffffffff)
	be.PutUint32(p[30:], uint32(g.Ni))
	be.PutUint32(p[34:], uint32(g.Nj))
	be.PutUint32(p[38:], 0)          // basic angle 0 → units are micro-degrees
	be.PutUint32(p[42:], 0xffffffff) // subdivisions missing
	putSigned32(p[46:], g.La1)
	putSigned32(p[50:], normLon(g.Lo1))
	p[54] = 48 // i and j increments given
	putSigned32(p[55:], g.La2())
	putSigned32(p[59:], normLon(g.Lo2()))
	be.PutUint32(p[63:], uint32(g.Di))
	be.PutUint32(p[67:], uint32(g.Dj))
	p[71] = 0 // scanningMode
	p = p[Sec3Len:]

	// Section 4: product definition, template 4.40 (atmospheric chemical constituents).
	be.PutUint32(p[0:], Sec4Len)
	p[4] = 4
	be.PutUint16(p[5:], 0)
	be.PutUint16(p[7:], 40)
	p[9] = m.ParameterCategory
	p[10] = m.ParameterNumber
	be.PutUint16(p[11:], m.ConstituentType)
	p[13] = 2    // typeOfGeneratingProcess: forecast
	p[14] = 0xff // backgroundProcess
	p[15] = 99   // generatingProcessIdentifier
	be.PutUint16(p[16:], 0)
	p[18] = 0
	p[19] = 1 // indicatorOfUnitOfTimeRange: hour
	be.PutUint32(p[20:], m.ForecastHours)
	if m.HeightMetres == 0 {
		p[24] = 1 // surface
	} else {
		p[24] = 103 // heightAboveGround
	}
	p[25] = 0
	be.PutUint32(p[26:], uint32(m.HeightMetres))
	p[30] = 0xff
	p[31] = 0xff
	be.PutUint32(p[32:], 0xffffffff)
	p = p[Sec4Len:]

	// Section 5: data representation, template 5.0 simple packing.
	ref, e, scale := packingParams(m.Values, m.BitsPerValue)
	be.PutUint32(p[0:], Sec5Len)
	p[4] = 5
	be.PutUint32(p[5:], uint32(n))
	be.PutUint16(p[9:], 0)
	be.PutUint32(p[11:], math.Float32bits(ref))
	be.PutUint16(p[15:], signMag16(e))
	be.PutUint16(p[17:], 0) // decimalScaleFactor
	p[19] = byte(m.BitsPerValue)
	p[20] = 0 // typeOfOriginalFieldValues: floating point
	p = p[Sec5Len:]

	// Section 6: no bitmap.
	be.PutUint32(p[0:], Sec6Len)
	p[4], p[5] = 6, 0xff
	p = p[Sec6Len:]

	// Section 7: packed data.
	dataLen := (n*m.BitsPerValue + 7) / 8
	be.PutUint32(p[0:], uint32(Sec7Hdr+dataLen))
	p[4] = 7
	pack(p[Sec7Hdr:Sec7Hdr+dataLen], m.Values, float64(ref), scale, m.BitsPerValue)
	p = p[Sec7Hdr+dataLen:]
	copy(p, "7777")
	return dst, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// normLon maps micro-degrees into [0, 360e6) because GRIB2 longitudes are unsigned.
func normLon(lo int64) int64 {
	lo %= 360_000_000
	if lo < 0 {
		lo += 360_000_000
	}
	return lo
}

// putSigned32 writes GRIB2's sign-and-magnitude 32-bit integer.
func putSigned32(b []byte, v int64) {
	u := uint32(v)
	if v < 0 {
		u = uint32(-v) | 0x80000000
	}
	binary.BigEndian.PutUint32(b, u)
}

func signMag16(v int) uint16 {
	if v < 0 {
		return uint16(-v) | 0x8000
	}
	return uint16(v)
}

// packingParams picks the reference value R (float32, never above the minimum so no packed
// value goes negative) and the binary scale E so that (max-R)/2^E fits in bits.
func packingParams(vals []float64, bits int) (ref float32, e int, scale float64) {
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	ref = float32(lo)
	if float64(ref) > lo {
		ref = math.Nextafter32(ref, float32(math.Inf(-1)))
	}
	rng := hi - float64(ref)
	maxInt := math.Ldexp(1, bits) - 1
	if rng <= 0 {
		return ref, 0, 1
	}
	e = int(math.Ceil(math.Log2(rng / maxInt)))
	for math.Round(rng*math.Ldexp(1, -e)) > maxInt {
		e++
	}
	return ref, e, math.Ldexp(1, -e)
}

func pack(dst []byte, vals []float64, ref, scale float64, bits int) {
	maxInt := math.Ldexp(1, bits) - 1
	q := func(v float64) uint64 {
		x := math.Round((v - ref) * scale)
		if x < 0 {
			x = 0
		} else if x > maxInt {
			x = maxInt
		}
		return uint64(x)
	}
	switch bits {
	case 16: // fast path: the default width
		for i, v := range vals {
			binary.BigEndian.PutUint16(dst[2*i:], uint16(q(v)))
		}
		return
	case 24:
		for i, v := range vals {
			x := q(v)
			dst[3*i], dst[3*i+1], dst[3*i+2] = byte(x>>16), byte(x>>8), byte(x)
		}
		return
	}
	var acc uint64
	var nacc uint
	o := 0
	for _, v := range vals {
		acc = acc<<uint(bits) | q(v)
		nacc += uint(bits)
		for nacc >= 8 {
			nacc -= 8
			dst[o] = byte(acc >> nacc)
			o++
		}
	}
	if nacc > 0 {
		dst[o] = byte(acc << (8 - nacc))
	}
}

// Decoded is the subset of a parsed message that tests and tools need.
type Decoded struct {
	TotalLength       int
	Centre, SubCentre uint16
	Ni, Nj            int
	ConstituentType   uint16
	ForecastHours     uint32
	BitsPerValue      int
	Values            []float64
}

// Decode parses one message produced by Append (same templates only); it exists so the
// encoder can be round-trip tested without ecCodes.
func Decode(b []byte) (*Decoded, error) {
	be := binary.BigEndian
	if len(b) < Sec0Len || string(b[:4]) != "GRIB" || b[7] != 2 {
		return nil, errors.New("grib2: not a GRIB2 message")
	}
	total := int(be.Uint64(b[8:16]))
	if total > len(b) || string(b[total-4:total]) != "7777" {
		return nil, errors.New("grib2: truncated message")
	}
	d := &Decoded{TotalLength: total}
	s1 := b[Sec0Len:]
	d.Centre, d.SubCentre = be.Uint16(s1[5:]), be.Uint16(s1[7:])
	s3 := s1[Sec1Len:]
	d.Ni, d.Nj = int(be.Uint32(s3[30:])), int(be.Uint32(s3[34:]))
	s4 := s3[Sec3Len:]
	d.ConstituentType = be.Uint16(s4[11:])
	d.ForecastHours = be.Uint32(s4[20:])
	s5 := s4[Sec4Len:]
	n := int(be.Uint32(s5[5:]))
	ref := float64(math.Float32frombits(be.Uint32(s5[11:])))
	eRaw := be.Uint16(s5[15:])
	e := int(eRaw & 0x7fff)
	if eRaw&0x8000 != 0 {
		e = -e
	}
	d.BitsPerValue = int(s5[19])
	s7 := s5[Sec5Len+Sec6Len:]
	data := s7[Sec7Hdr:]
	d.Values = make([]float64, n)
	var acc uint64
	var nacc uint
	o := 0
	mask := uint64(1)<<uint(d.BitsPerValue) - 1
	for i := 0; i < n; i++ {
		for nacc < uint(d.BitsPerValue) {
			acc = acc<<8 | uint64(data[o])
			o++
			nacc += 8
		}
		nacc -= uint(d.BitsPerValue)
		x := (acc >> nacc) & mask
		d.Values[i] = ref + float64(x)*math.Ldexp(1, e)
	}
	return d, nil
}
