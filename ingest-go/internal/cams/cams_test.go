package cams

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/grib2"
)

func base() map[string]any {
	return map[string]any{
		"variable": []any{"ozone"}, "model": []any{"ensemble"}, "level": []any{"0"},
		"date": []any{"2025-01-01"}, "type": []any{"forecast"}, "time": []any{"00:00"},
		"leadtime_hour": []any{"0"}, "data_format": "grib",
	}
}

func with(kv ...any) map[string]any {
	m := base()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func TestParseRequestValidation(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]any
		wantKey string // "" = valid
		wantMsg string
	}{
		{"minimal", base(), "", ""},
		{"scalar strings", with("variable", "ozone", "date", "2024-02-29/2024-03-01"), "", ""},
		{"legacy format", with("data_format", nil, "format", "grib"), "", ""},
		{"ignored underscore", with("_timestamp", "123"), "", ""},
		{"numeric level", with("level", []any{float64(50)}, "leadtime_hour", []any{float64(96)}), "", ""},
		{"hidden variable", with("variable", "pm2.5_anthropogenic_wood_burning_carbon"), "", ""},
		{"analysis hour", with("type", "analysis", "time", []any{"00:00", "23:00"}), "", ""},
		{"area ok", with("area", []any{60.0, -10.0, 40.0, 20.0}), "", ""},
		{"unknown key", with("step", "0"), "step", `unknown key "step"`},
		{"missing key", with("model", nil), "model", `missing key "model"`},
		{"missing format", with("data_format", nil), "data_format", "missing key"},
		{"netcdf", with("data_format", "netcdf"), "data_format", "grib only"},
		{"bad format", with("data_format", "csv"), "data_format", `"csv"`},
		{"bad variable", with("variable", []any{"ozone", "pm1"}), "variable", `"pm1"`},
		{"bad model", with("model", "cams"), "model", `"cams"`},
		{"bad level", with("level", "42"), "level", `"42"`},
		{"padded level", with("level", "050"), "level", `"050"`},
		{"bad type", with("type", "reanalysis"), "type", `"reanalysis"`},
		{"forecast 12z", with("time", "12:00"), "time", "forecast runs only at 00:00"},
		{"bad time", with("time", "24:00"), "time", `"24:00"`},
		{"bad time format", with("time", "0:00"), "time", `"0:00"`},
		{"leadtime 97", with("leadtime_hour", "97"), "leadtime_hour", `"97"`},
		{"analysis leadtime", with("type", "analysis", "leadtime_hour", "3"), "leadtime_hour", "analysis"},
		{"feb 30", with("date", "2025-02-30"), "date", `"2025-02-30"`},
		{"reversed range", with("date", "2025-01-02/2025-01-01"), "date", "start after end"},
		{"bad date format", with("date", "2025-1-01"), "date", `"2025-1-01"`},
		{"empty list", with("variable", []any{}), "variable", "empty"},
		{"non-string item", with("variable", []any{1.0}), "variable", "strings"},
		{"area N<=S", with("area", []any{40.0, -10.0, 60.0, 20.0}), "area", "north must be greater"},
		{"area E<=W", with("area", []any{60.0, 20.0, 40.0, -10.0}), "area", "east must be greater"},
		{"area outside", with("area", []any{75.0, -10.0, 40.0, 20.0}), "area", "within"},
		{"area 3 items", with("area", []any{60.0, -10.0, 40.0}), "area", "north, west"},
		{"area no point", with("area", []any{50.02, 10.01, 50.01, 10.02}), "area", "does not contain a grid point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.in)
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("want InvalidError, got %v", err)
			}
			if ie.Key != tc.wantKey || !strings.Contains(ie.Detail, tc.wantMsg) {
				t.Fatalf("got key %q detail %q; want key %q containing %q", ie.Key, ie.Detail, tc.wantKey, tc.wantMsg)
			}
		})
	}
}

func TestDateExpansionAndDedupe(t *testing.T) {
	r, err := ParseRequest(with("date", []any{"2024-02-28/2024-03-01", "2024-02-29"}, "variable", []any{"ozone", "ozone"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range r.Dates {
		got = append(got, d.Format("2006-01-02"))
	}
	if strings.Join(got, ",") != "2024-02-28,2024-02-29,2024-03-01" || len(r.Variables) != 1 {
		t.Fatalf("dates %v, variables %d", got, len(r.Variables))
	}
}

func TestAreaSnapping(t *testing.T) {
	tests := []struct {
		area               []any
		ni, nj             int
		la1, lo1, la2, lo2 int64
	}{
		// Full domain edges snap to the outermost cell centres.
		{[]any{72.0, -25.0, 30.0, 45.0}, 700, 420, 71_950_000, -24_950_000, 30_050_000, 44_950_000},
		// N floor, W ceil, S ceil, E floor onto x.x5 centres.
		{[]any{60.0, -10.0, 40.0, 20.0}, 300, 200, 59_950_000, -9_950_000, 40_050_000, 19_950_000},
		{[]any{50.05, 10.05, 50.05 - 0.1, 10.15}, 2, 2, 50_050_000, 10_050_000, 49_950_000, 10_150_000},
		{[]any{"55.5", "0", "54.5", "1"}, 10, 10, 55_450_000, 50_000, 54_550_000, 950_000},
	}
	for _, tc := range tests {
		r, err := ParseRequest(with("area", tc.area))
		if err != nil {
			t.Fatalf("%v: %v", tc.area, err)
		}
		g := r.Grid
		if g.Ni != tc.ni || g.Nj != tc.nj || g.La1 != tc.la1 || g.Lo1 != tc.lo1 || g.La2() != tc.la2 || g.Lo2() != tc.lo2 {
			t.Errorf("%v: got Ni %d Nj %d first %d/%d last %d/%d", tc.area, g.Ni, g.Nj, g.La1, g.Lo1, g.La2(), g.Lo2())
		}
	}
}

func TestGenerateOrderSizeDeterminism(t *testing.T) {
	in := with("variable", []any{"ozone", "birch_pollen"}, "model", []any{"ensemble", "emep"},
		"level", []any{"0", "1000"}, "date", "2025-03-01/2025-03-02", "leadtime_hour", []any{"0", "7"},
		"area", []any{50.0, 0.0, 45.0, 5.0})
	r, err := ParseRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	n, err := Generate(&a, r, 16)
	if err != nil {
		t.Fatal(err)
	}
	Generate(&b, r, 16)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same request produced different bytes")
	}
	const msgs = 2 * 2 * 2 * 2 * 2 // dates × models × variables × levels × leadtimes
	pts := 50 * 50
	if r.Messages() != msgs || n != int64(msgs*grib2.EncodedLen(pts, 16)) {
		t.Fatalf("messages %d size %d, want %d / %d", r.Messages(), n, msgs, msgs*grib2.EncodedLen(pts, 16))
	}
	// Walk messages and check the nesting order: date, time, model, variable, level, leadtime.
	buf := a.Bytes()
	var seq []string
	for len(buf) > 0 {
		d, err := grib2.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		day := buf[16+15] // section 1 octet 15: day
		s4 := buf[16+21+72:]
		seq = append(seq, string(rune('0'+day%10))+"/"+itoa(int(d.Centre))+"/"+itoa(int(d.ConstituentType))+"/"+itoa(int(s4[24]))+"/"+itoa(int(d.ForecastHours)))
		lo, hi := d.Values[0], d.Values[0]
		for _, v := range d.Values {
			lo, hi = min(lo, v), max(hi, v)
		}
		if !(lo > 0) || hi <= lo {
			t.Fatalf("field not positive/non-constant: %g..%g", lo, hi)
		}
		buf = buf[d.TotalLength:]
	}
	want := []string{"1/85/0/1/0", "1/85/0/1/7", "1/85/0/103/0", "1/85/0/103/7", "1/85/62101/1/0"}
	for i, w := range want {
		if seq[i] != w {
			t.Fatalf("message %d = %s, want %s (seq %v)", i, seq[i], w, seq[:8])
		}
	}
	if seq[8] != "1/88/0/1/0" || seq[16] != "2/85/0/1/0" {
		t.Fatalf("model/date nesting wrong: %s %s", seq[8], seq[16])
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestSubsetMatchesFullDomainValues(t *testing.T) {
	full, _ := ParseRequest(base())
	sub, _ := ParseRequest(with("area", []any{60.0, -10.0, 40.0, 20.0}))
	k := FieldKey{Variable: full.Variables[0], Model: full.Models[0], Base: full.Dates[0], Leadtime: 3}
	fv := make([]float64, full.Grid.Points())
	sv := make([]float64, sub.Grid.Points())
	Fill(fv, full.Grid, k)
	Fill(sv, sub.Grid, k)
	// Sub-grid starts at row 120 (71.95-59.95)/0.1, column 150 (-9.95+24.95)/0.1.
	for j := 0; j < sub.Grid.Nj; j += 37 {
		for i := 0; i < sub.Grid.Ni; i += 41 {
			if a, b := sv[j*sub.Grid.Ni+i], fv[(j+120)*700+i+150]; a != b {
				t.Fatalf("(%d,%d) subset %g != full %g", j, i, a, b)
			}
		}
	}
}

func TestVariableTableComplete(t *testing.T) {
	if len(Variables) != 27 || len(Models) != 12 {
		t.Fatalf("%d variables, %d models", len(Variables), len(Models))
	}
	seen := map[uint16]string{}
	for _, v := range Variables {
		if prev, dup := seen[v.ConstituentType]; dup {
			t.Errorf("constituentType %d used by %s and %s", v.ConstituentType, prev, v.Name)
		}
		seen[v.ConstituentType] = v.Name
		pollen := strings.HasSuffix(v.Name, "_pollen")
		if pollen != (v.ParameterNumber == 59) {
			t.Errorf("%s: parameterNumber %d", v.Name, v.ParameterNumber)
		}
	}
}
