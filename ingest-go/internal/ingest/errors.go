package ingest

import (
	"errors"
	"fmt"
)

// Kind classifies a failure; each maps to one exit code.
type Kind string

// Error kinds (documented in README.md and --help).
const (
	KindUsage          Kind = "usage"
	KindInvalidRequest Kind = "invalid_request"
	KindAuth           Kind = "auth"
	KindNotFound       Kind = "not_found"
	KindJobFailed      Kind = "job_failed"
	KindUnavailable    Kind = "unavailable"
	KindIntegrity      Kind = "integrity"
	KindConflict       Kind = "conflict"
	KindCancelled      Kind = "cancelled"
	KindInternal       Kind = "internal"
)

// Error is a classified failure. Messages never contain the API key.
type Error struct {
	Kind       Kind
	Message    string
	HTTPStatus int    // 0 when no HTTP response is involved
	JobID      string // "" before the job exists
	Signal     int    // for KindCancelled: the signal number, decides 130/143
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// ExitCode maps an error to the process exit status.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if !errors.As(err, &e) {
		return 1
	}
	switch e.Kind {
	case KindUsage:
		return 2
	case KindInvalidRequest, KindAuth, KindNotFound:
		return 3
	case KindJobFailed:
		return 4
	case KindUnavailable:
		return 5
	case KindIntegrity:
		return 6
	case KindConflict:
		return 7
	case KindCancelled:
		if e.Signal > 0 {
			return 128 + e.Signal
		}
		return 130
	}
	return 1
}

// AsError wraps any error as *Error (unknown errors become internal).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Message: err.Error()}
}
