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

// KindInfo is one row of the exit-code table.
type KindInfo struct {
	Kind Kind
	Exit int // for KindCancelled: 128 + signal (130 SIGINT, 143 SIGTERM or parent gone)
	When string
}

// Kinds is THE exit-code table: ExitCode and --help are generated from it; README.md mirrors it.
var Kinds = []KindInfo{
	{KindInternal, 1, "unexpected (sink I/O, bugs)"},
	{KindUsage, 2, "bad/missing flags, no API key, invalid key/--attempt/--base-url, bad request input"},
	{KindInvalidRequest, 3, "ADS refused the request: 400 (and other non-retryable 4xx)"},
	{KindAuth, 3, "ADS refused: 401, 403 (key, licence)"},
	{KindNotFound, 3, "ADS refused: 404 (dataset, results)"},
	{KindJobFailed, 4, "job failed, rejected, dismissed/deleted, 404 while polling (also an unknown --resume-job), unknown status"},
	{KindUnavailable, 5, "retries exhausted, --timeout, sink not writable"},
	{KindIntegrity, 6, "size != file:size, truncated download, adopted object of the wrong size; nothing committed"},
	{KindConflict, 7, "key already exists before submit (without --resume-job), or appeared during the download"},
	{KindCancelled, 143, "SIGTERM or the parent went away (stdin closed with --input -); 130 for SIGINT; nothing committed"},
}

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

// ExitCode maps an error to the process exit status (table: Kinds).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if !errors.As(err, &e) {
		return 1
	}
	if e.Kind == KindCancelled {
		if e.Signal > 0 {
			return 128 + e.Signal
		}
		return 130
	}
	for _, k := range Kinds {
		if k.Kind == e.Kind {
			return k.Exit
		}
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
