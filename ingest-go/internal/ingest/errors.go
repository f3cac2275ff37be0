package ingest

import (
	"errors"
	"fmt"
)

// Kind classifies a failure; each maps to one exit code.
type Kind string

// Error kinds (the table: docs/ingester-protocol.md, mirrored by Kinds and checked against it by a test).
const (
	KindUsage          Kind = "usage"
	KindInvalidRequest Kind = "invalid_request"
	KindAuth           Kind = "auth"
	KindNotFound       Kind = "not_found"
	KindJobFailed      Kind = "job_failed"
	KindExpired        Kind = "expired"
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

// Kinds is THE exit-code table, the same as docs/ingester-protocol.md (TestKindsMatchTheProtocolDoc): each
// kind's exit code is the exit code of the Python error family jackfruit maps the kind to
// (jackfruit/domain/errors.py), so the binary and the jackfruit CLI share one set of codes. ExitCode and
// --help are generated from it.
var Kinds = []KindInfo{
	{KindUsage, 2, "bad or missing flags (an ingest's flags given to a query mode, both query modes), no API key, invalid key / --attempt / --base-url / --resume-job / --job-status / --sink URL, no S3 credentials, unreadable ca_bundle, input line or request file not a JSON object"},
	{KindInvalidRequest, 2, "ADS refused the request as malformed: 400 (and other non-retryable 4xx but 401, 403, 404)"},
	{KindNotFound, 3, "ADS answered 404 for the dataset or the results (not results expired)"},
	{KindConflict, 4, "key already exists before submit (without --resume-job), or appeared during the download"},
	{KindIntegrity, 5, "size != file:size, truncated download that could not be completed, adopted object of the wrong size or content; nothing committed"},
	{KindUnavailable, 6, "retries exhausted, --timeout, --queue-deadline, raw sink not writable (S3: endpoint unreachable, credentials refused, bucket missing)"},
	{KindInternal, 6, "unexpected: sink I/O errors, bugs"},
	{KindAuth, 7, "ADS refused: 401, 403 (key, licence, cost limit)"},
	{KindJobFailed, 7, "job failed, rejected, dismissed/deleted, 404 while polling (also an unknown --resume-job), unknown status"},
	{KindExpired, 8, "the job's results expired (404 results expired) and so did those of the one resubmitted job, or its download link answered 403/404/410 again after the results were fetched anew"},
	{KindCancelled, 143, "SIGTERM (143) or SIGINT (130), or the parent went away (stdin closed with --input -, stdout closed: 143); upload aborted, nothing committed"},
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
