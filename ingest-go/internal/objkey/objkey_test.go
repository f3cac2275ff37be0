package objkey

import (
	"strings"
	"testing"
)

const good = "ads/cams-europe-air-quality-forecasts/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"

func TestParse(t *testing.T) {
	tests := []struct {
		key, wantErr string // wantErr "" means valid; otherwise a substring of the error
	}{
		{good, ""},
		{"a/b/2024-02-29/0190a3b2-7c4d-7e8f-bfff-1c2d3e4f5a6b.nc", ""},
		{"a.b_c-d/x/2025-12-31/0190a3b2-7c4d-7e8f-8a0b-1c2d3e4f5a6b.zip", ""},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.abcdefgh", ""},
		{"ads/cams/2025-01-31", "exactly 4"},
		{"ads/cams/2025-01-31/x/y.grib", "exactly 4"},
		{"/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "part 1 is empty"},
		{"Ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "source"},
		{"ads-/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "source"},
		{"a..b/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "'..'"},
		{"ads/../2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "dataset"},
		{"ads/.cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "dataset"},
		{"ads/cams/2025-02-30/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "calendar"},
		{"ads/cams/2023-02-29/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "calendar"},
		{"ads/cams/2025-1-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "YYYY-MM-DD"},
		{"ads/cams/20250131/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib", "YYYY-MM-DD"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-4e8f-9a0b-1c2d3e4f5a6b.grib", "UUIDv7"}, // v4
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-ca0b-1c2d3e4f5a6b.grib", "UUIDv7"}, // variant 110x
		{"ads/cams/2025-01-31/0190A3B2-7C4D-7E8F-9A0B-1C2D3E4F5A6B.grib", "UUIDv7"}, // upper case
		{"ads/cams/2025-01-31/0190a3b27c4d7e8f9a0b1c2d3e4f5a6b.grib", "UUIDv7"},     // not canonical
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b", "{run_id}.{ext}"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.GRIB", "extension"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.abcdefghi", "extension"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.tar.gz", "extension"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.", "extension"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.gr\nib", "control"},
		{"ads/cams/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib/", "exactly 4"},
	}
	for _, tc := range tests {
		k, err := Parse(tc.key)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("Parse(%q) unexpected error %v", tc.key, err)
			} else if k.String() != tc.key {
				t.Errorf("Parse(%q) rebuilt %q", tc.key, k.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Parse(%q) error = %v, want containing %q", tc.key, err, tc.wantErr)
		}
	}
}

func TestValidateDatasetMatch(t *testing.T) {
	if _, err := Validate(good, "cams-europe-air-quality-forecasts"); err != nil {
		t.Fatal(err)
	}
	_, err := Validate(good, "other")
	if err == nil || !strings.Contains(err.Error(), "does not match --dataset") {
		t.Fatalf("got %v", err)
	}
}

func FuzzValidateKey(f *testing.F) {
	f.Add(good)
	f.Add("a/b/2024-02-29/0190a3b2-7c4d-7e8f-bfff-1c2d3e4f5a6b.nc")
	f.Add("a/b/c/d.e")
	f.Add("../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("accepted %q but rebuilt %q", s, k.String())
		}
		if strings.Contains(s, "..") || strings.HasPrefix(s, "/") {
			t.Fatalf("accepted unsafe key %q", s)
		}
	})
}
