package objkey

import (
	"encoding/json"
	"os"
	"testing"
)

// The Python domain (jackfruit/domain/keys.py) runs the same vectors: both rules must agree.
const vectorsFile = "../../../tests/data/raw_key_vectors.json"

func TestSharedVectors(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("shared vectors: %v", err)
	}
	var cases []struct {
		Key   string `json:"key"`
		Valid bool   `json:"valid"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d vectors", len(cases))
	}
	for _, c := range cases {
		k, err := Parse(c.Key)
		if c.Valid && (err != nil || k.String() != c.Key) {
			t.Errorf("%q should be valid: %v", c.Key, err)
		}
		if !c.Valid && err == nil {
			t.Errorf("%q should be refused", c.Key)
		}
	}
}
