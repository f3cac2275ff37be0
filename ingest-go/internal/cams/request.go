package cams

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/grib2"
)

// InvalidError is a rejected request; Detail is shown to the client as the problem detail.
type InvalidError struct {
	Key, Detail string
}

func (e *InvalidError) Error() string { return e.Detail }

func invalid(key string, format string, args ...any) *InvalidError {
	return &InvalidError{Key: key, Detail: fmt.Sprintf(format, args...)}
}

// Request is a validated, expanded request. Lists are de-duplicated and keep the caller's order.
type Request struct {
	Types     []string
	Dates     []time.Time // ranges expanded, UTC midnight
	Hours     []int       // base times (the "time" key)
	Models    []Model
	Variables []Variable
	Levels    []int
	Leadtimes []int
	Grid      grib2.Grid // full domain or the snapped area
}

// Messages is the number of GRIB messages the request yields.
func (r *Request) Messages() int {
	return len(r.Types) * len(r.Dates) * len(r.Hours) * len(r.Models) * len(r.Variables) * len(r.Levels) * len(r.Leadtimes)
}

// Full domain: 700x420 cell centres from 71.95N/24.95W, 0.1 degree.
var FullGrid = grib2.Grid{Ni: 700, Nj: 420, La1: 71_950_000, Lo1: -24_950_000, Di: 100_000, Dj: 100_000}

// Domain edges (cell boundaries) in micro-degrees.
const (
	domN, domS = 72_000_000, 30_000_000
	domW, domE = -25_000_000, 45_000_000
)

var requiredKeys = []string{"variable", "model", "level", "date", "type", "time", "leadtime_hour"}

// ParseRequest validates ADS "inputs" against the §5 schema. Keys starting with "_" are ignored
// because clients use them (e.g. _timestamp) to defeat the ADS result cache.
func ParseRequest(inputs map[string]any) (*Request, error) {
	lists := map[string][]string{}
	var area []any
	var hasFormat bool
	format := ""
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error messages when several keys are wrong
	for _, k := range keys {
		v := inputs[k]
		switch {
		case strings.HasPrefix(k, "_"):
			continue
		case k == "area":
			a, ok := v.([]any)
			if !ok || len(a) != 4 {
				return nil, invalid(k, "invalid value for %q: %s (want [north, west, south, east])", k, show(v))
			}
			area = a
		case k == "data_format" || k == "format":
			l, err := stringList(k, v, false)
			if err != nil {
				return nil, err
			}
			if len(l) != 1 {
				return nil, invalid(k, "invalid value for %q: %s (exactly one format)", k, show(v))
			}
			if hasFormat && format != l[0] {
				return nil, invalid(k, "conflicting formats %q and %q", format, l[0])
			}
			hasFormat, format = true, l[0]
		case contains(requiredKeys, k):
			numeric := k == "level" || k == "leadtime_hour"
			l, err := stringList(k, v, numeric)
			if err != nil {
				return nil, err
			}
			lists[k] = dedupe(l)
		default:
			return nil, invalid(k, "unknown key %q", k)
		}
	}
	for _, k := range requiredKeys {
		if _, ok := lists[k]; !ok {
			return nil, invalid(k, "missing key %q", k)
		}
	}
	if !hasFormat {
		return nil, invalid("data_format", "missing key %q", "data_format")
	}
	switch format {
	case "grib":
	case "netcdf", "netcdf_zip", "netcdf4":
		return nil, invalid("data_format", "data_format %q is not supported: this stub serves grib only", format)
	default:
		return nil, invalid("data_format", "invalid value for %q: %q (allowed: grib)", "data_format", format)
	}

	r := &Request{Grid: FullGrid}
	for _, s := range lists["type"] {
		if s != "forecast" && s != "analysis" {
			return nil, invalid("type", "invalid value for %q: %q (allowed: forecast, analysis)", "type", s)
		}
		r.Types = append(r.Types, s)
	}
	isAnalysis := contains(r.Types, "analysis")
	isForecast := contains(r.Types, "forecast")
	for _, s := range lists["variable"] {
		v, ok := lookupVariable(s)
		if !ok {
			return nil, invalid("variable", "invalid value for %q: %q", "variable", s)
		}
		r.Variables = append(r.Variables, v)
	}
	for _, s := range lists["model"] {
		m, ok := lookupModel(s)
		if !ok {
			return nil, invalid("model", "invalid value for %q: %q", "model", s)
		}
		r.Models = append(r.Models, m)
	}
	for _, s := range lists["level"] {
		n, err := strconv.Atoi(s)
		if err != nil || strconv.Itoa(n) != s || !containsInt(Levels, n) {
			return nil, invalid("level", "invalid value for %q: %q (allowed: 0 50 250 500 1000 2000 3000 5000)", "level", s)
		}
		r.Levels = append(r.Levels, n)
	}
	for _, s := range lists["time"] {
		h, ok := parseHour(s)
		if !ok {
			return nil, invalid("time", "invalid value for %q: %q (want HH:00)", "time", s)
		}
		if isForecast && h != 0 {
			return nil, invalid("time", "invalid value for %q: %q (forecast runs only at 00:00)", "time", s)
		}
		r.Hours = append(r.Hours, h)
	}
	for _, s := range lists["leadtime_hour"] {
		n, err := strconv.Atoi(s)
		if err != nil || strconv.Itoa(n) != s || n < 0 || n > 96 {
			return nil, invalid("leadtime_hour", "invalid value for %q: %q (allowed: 0..96)", "leadtime_hour", s)
		}
		if isAnalysis && n != 0 {
			return nil, invalid("leadtime_hour", "invalid value for %q: %q (analysis has only leadtime 0)", "leadtime_hour", s)
		}
		r.Leadtimes = append(r.Leadtimes, n)
	}
	seen := map[time.Time]bool{}
	for _, s := range lists["date"] {
		ds, err := expandDate(s)
		if err != nil {
			return nil, invalid("date", "invalid value for %q: %q (%v)", "date", s, err)
		}
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				r.Dates = append(r.Dates, d)
			}
		}
	}
	if area != nil {
		g, err := snapArea(area)
		if err != nil {
			return nil, err
		}
		r.Grid = g
	}
	return r, nil
}

// maxDaysPerRange bounds range expansion so a typo like 1000-01-01/9999-12-31 cannot exhaust memory.
const maxDaysPerRange = 3660

func expandDate(s string) ([]time.Time, error) {
	a, b, isRange := strings.Cut(s, "/")
	start, err := parseDate(a)
	if err != nil {
		return nil, err
	}
	end := start
	if isRange {
		if end, err = parseDate(b); err != nil {
			return nil, err
		}
	}
	if end.Before(start) {
		return nil, fmt.Errorf("range start after end")
	}
	var out []time.Time
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		if len(out) == maxDaysPerRange {
			return nil, fmt.Errorf("range longer than %d days", maxDaysPerRange)
		}
		out = append(out, d)
	}
	return out, nil
}

func parseDate(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil || t.Format("2006-01-02") != s {
		return time.Time{}, fmt.Errorf("not a calendar date YYYY-MM-DD")
	}
	return t, nil
}

func parseHour(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' || s[3:] != "00" {
		return 0, false
	}
	h, err := strconv.Atoi(s[:2])
	if err != nil || h < 0 || h > 23 || s[0] < '0' || s[0] > '2' {
		return 0, false
	}
	return h, true
}

// snapArea snaps [N,W,S,E] inward to cell centres as the ADS adaptor does (N/E floor, S/W ceil)
// and returns the sub-grid. Integer micro-degrees keep the snapping exact.
func snapArea(a []any) (grib2.Grid, error) {
	var md [4]int64
	names := [4]string{"north", "west", "south", "east"}
	for i, v := range a {
		f, ok := toFloat(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return grib2.Grid{}, invalid("area", "invalid value for %q: %s (%s is not a number)", "area", show(a), names[i])
		}
		md[i] = int64(math.Round(f * 1e6))
	}
	n, w, s, e := md[0], md[1], md[2], md[3]
	switch {
	case n <= s:
		return grib2.Grid{}, invalid("area", "invalid value for %q: %s (north must be greater than south)", "area", show(a))
	case e <= w:
		return grib2.Grid{}, invalid("area", "invalid value for %q: %s (east must be greater than west)", "area", show(a))
	case n > domN || s < domS || w < domW || e > domE:
		return grib2.Grid{}, invalid("area", "invalid value for %q: %s (must lie within 30..72N, -25..45E)", "area", show(a))
	}
	g := FullGrid
	// Row j has latitude La1 - j*Dj; column i has longitude Lo1 + i*Di.
	j0 := ceilDiv(g.La1-n, g.Dj)
	j1 := floorDiv(g.La1-s, g.Dj)
	i0 := ceilDiv(w-g.Lo1, g.Di)
	i1 := floorDiv(e-g.Lo1, g.Di)
	j0, i0 = max(j0, 0), max(i0, 0)
	j1, i1 = min(j1, int64(g.Nj-1)), min(i1, int64(g.Ni-1))
	if j1 < j0 || i1 < i0 {
		return grib2.Grid{}, invalid("area", "invalid value for %q: %s (requested area does not contain a grid point)", "area", show(a))
	}
	return grib2.Grid{
		Ni: int(i1 - i0 + 1), Nj: int(j1 - j0 + 1),
		La1: g.La1 - j0*g.Dj, Lo1: g.Lo1 + i0*g.Di,
		Di: g.Di, Dj: g.Dj,
	}, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// stringList accepts a list of strings or a single string; numeric keys also take integral numbers
// because Python callers often send level=0 rather than "0".
func stringList(key string, v any, numeric bool) ([]string, error) {
	one := func(x any) (string, bool) {
		switch t := x.(type) {
		case string:
			return t, true
		case float64:
			if numeric && t == math.Trunc(t) && math.Abs(t) < 1e9 {
				return strconv.Itoa(int(t)), true
			}
		case json.Number:
			if numeric {
				return t.String(), true
			}
		}
		return "", false
	}
	if l, ok := v.([]any); ok {
		if len(l) == 0 {
			return nil, invalid(key, "invalid value for %q: [] (empty list)", key)
		}
		out := make([]string, 0, len(l))
		for _, x := range l {
			s, ok := one(x)
			if !ok {
				return nil, invalid(key, "invalid value for %q: %s (items must be strings)", key, show(x))
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := one(v)
	if !ok {
		return nil, invalid(key, "invalid value for %q: %s (want a string or list of strings)", key, show(v))
	}
	return []string{s}, nil
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	}
	return 0, false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func dedupe(l []string) []string {
	seen := map[string]bool{}
	out := l[:0:0]
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(l []int, n int) bool {
	for _, x := range l {
		if x == n {
			return true
		}
	}
	return false
}
