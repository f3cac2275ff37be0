// Package objkey validates sink object keys of the form {source}/{dataset}/{YYYY-MM-DD}/{run_id}.{ext}.
package objkey

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The Python side computes keys with the same rule; keep both in lock-step.
var (
	nameRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$`)
	uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	extRe  = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
)

// Key is a parsed, valid key.
type Key struct {
	Source, Dataset, Date, RunID, Ext string
}

// String rebuilds the key; for a valid key it equals the input to Parse.
func (k Key) String() string {
	return k.Source + "/" + k.Dataset + "/" + k.Date + "/" + k.RunID + "." + k.Ext
}

// Parse validates s and returns its parts; the error names the offending part.
func Parse(s string) (Key, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return Key{}, fmt.Errorf("key contains a control character at byte %d", i)
		}
	}
	parts := strings.Split(s, "/")
	if len(parts) != 4 {
		return Key{}, fmt.Errorf("key must have exactly 4 '/'-separated parts {source}/{dataset}/{YYYY-MM-DD}/{run_id}.{ext}, got %d", len(parts))
	}
	for i, p := range parts {
		if p == "" {
			return Key{}, fmt.Errorf("key part %d is empty", i+1)
		}
	}
	k := Key{Source: parts[0], Dataset: parts[1], Date: parts[2]}
	if err := checkName("source", k.Source); err != nil {
		return Key{}, err
	}
	if err := checkName("dataset", k.Dataset); err != nil {
		return Key{}, err
	}
	if len(k.Date) != 10 {
		return Key{}, fmt.Errorf("key date %q is not YYYY-MM-DD", k.Date)
	}
	if t, err := time.Parse("2006-01-02", k.Date); err != nil || t.Format("2006-01-02") != k.Date {
		return Key{}, fmt.Errorf("key date %q is not a real calendar date in YYYY-MM-DD form", k.Date)
	}
	run, ext, ok := strings.Cut(parts[3], ".")
	if !ok {
		return Key{}, fmt.Errorf("key file part %q must be {run_id}.{ext}", parts[3])
	}
	if !uuidRe.MatchString(run) {
		return Key{}, fmt.Errorf("key run_id %q is not a lowercase canonical UUIDv7 (version nibble 7, variant 10xx)", run)
	}
	if !extRe.MatchString(ext) {
		return Key{}, fmt.Errorf("key extension %q must match [a-z0-9]{1,8}", ext)
	}
	k.RunID, k.Ext = run, ext
	return k, nil
}

func checkName(what, v string) error {
	if !nameRe.MatchString(v) {
		return fmt.Errorf("key %s %q must match ^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$", what, v)
	}
	if strings.Contains(v, "..") {
		return fmt.Errorf("key %s %q must not contain '..'", what, v)
	}
	return nil
}

// Validate checks s and that its dataset part equals dataset.
func Validate(s, dataset string) (Key, error) {
	k, err := Parse(s)
	if err != nil {
		return Key{}, err
	}
	if k.Dataset != dataset {
		return Key{}, fmt.Errorf("key dataset %q does not match --dataset %q", k.Dataset, dataset)
	}
	return k, nil
}
