package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
)

const usage = `Usage: jackfruit-ingest --base-url URL --dataset NAME (--input - | --request-file PATH|-) --key KEY
                        (--sink URL | --sink-dir DIR) [--attempt UUID] [--resume-job ID]
                        [--timeout 30m] [--poll-initial 1s] [--poll-max 120s] [--queue-deadline 0s]
                        [--max-retries 9 | --max-tries 10] [--retry-after 120s]
       jackfruit-ingest --find-job --base-url URL --dataset NAME (--input - | --request-file PATH|-) [--timeout …] […]
       jackfruit-ingest --job-status ID --base-url URL --dataset NAME (--input - | --request-file PATH|-) [--timeout …] […]

Submits the ADS request (JSON object of inputs) to {base-url}/retrieve/v1 (or, with --resume-job,
follows that existing job instead), polls the job, downloads the result (resuming with Range when
possible), verifies its size against the ADS file:size, and commits it write-once to the sink at KEY.

--find-job: answers the upstream's job for the request (dataset + request as canonical JSON, among the
     account's 100 newest jobs; the newest held one, else the newest), or none. --job-status ID: answers
     the state of that job. Both submit nothing and touch no sink; their one result line is
     {"job": {"ads_job_id", "status", "held", "ads_status"?, "created"?}} or {"job": null}; status is
     queued | running | successful (held: the job can be followed with --resume-job without a new job)
     or failed | expired | unknown.

--input - : the first stdin line is
       {"request": {...ADS inputs...}, "api_key": "...",
        "s3": {"access_key": "...", "secret_key": "...", "session_token": "..."}}
     api_key optional (else $ADS_API_KEY); s3 optional, only for an s3:// sink (else $AWS_ACCESS_KEY_ID,
     $AWS_SECRET_ACCESS_KEY and optional $AWS_SESSION_TOKEN); session_token optional. stdin must then
     stay open: EOF means the parent died, and the ingester stops like on SIGTERM (upload aborted,
     nothing committed, its staged file or multipart upload removed).
--request-file: the request alone (no stdin watching); the API key comes ONLY from $ADS_API_KEY and
     S3 credentials ONLY from $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY.

--sink URL (exactly one of --sink and --sink-dir):
  file:///ABS/DIR   filesystem sink: objects at DIR/KEY (0444), staging in DIR/.partial/ (--sink-dir DIR is
                    the same thing)
  s3://BUCKET?endpoint=http(s)://HOST:PORT[&region=us-east-1][&part_size=16777216][&ca_bundle=/PATH]
                    S3 sink: object BUCKET/KEY, committed with If-None-Match: * (never overwrites);
                    https = TLS (ca_bundle: PEM of the CAs to trust instead of the system's); parts of
                    part_size bytes (default 16 MiB, at least 5 MiB); user metadata jackfruit-attempt = --attempt.
  Credentials never go in the URL or a flag: user info or a credential parameter is a usage error.

KEY: {source}/{dataset}/{YYYY-MM-DD}/{run_id}.{ext}; source, dataset ~ ^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$
     without "..", a real calendar date, run_id a lowercase UUIDv7, ext ~ ^[a-z0-9]{1,8}$,
     and the dataset part must equal --dataset.

stdout: JSON lines. Progress events first, each flushed when it happens:
  {"event":"phase","phase":"submit|poll|download|commit|adopt"}
  {"event":"submitted","ads_job_id":"…","status":"accepted|…|resumed","replaces"?:"…"}
     (again with "replaces" = the old job when its results expired and the request was submitted anew, once)
then, LAST, exactly one result line:
  success: {"key","size","sha256","content_type","ads_job_id","ads_file_size","submitted_at",
            "finished_at","timings_ms":{"submit","wait","download","total"},"polls","retries","resumes","adopted"}
           (--find-job, --job-status: {"job": …} as above)
  failure: {"error":{"kind","message","http_status"?,"ads_job_id"?}}
stderr: JSON logs (no secrets).

Exit codes / error kinds (the same codes as the jackfruit CLI; docs/ingester-protocol.md):
%s
Flags:
`

// lineWriter prints whole JSON lines, one Write each (os.Stdout is unbuffered: each line reaches the parent when
// it is written).
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) put(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(b, '\n'))
	return err
}

// fail prints the error result line and returns the exit code of its kind.
func (l *lineWriter) fail(e *ingest.Error) int {
	type body struct {
		Kind       ingest.Kind `json:"kind"`
		Message    string      `json:"message"`
		HTTPStatus int         `json:"http_status,omitempty"`
		ADSJobID   string      `json:"ads_job_id,omitempty"`
	}
	_ = l.put(map[string]body{"error": {e.Kind, e.Message, e.HTTPStatus, e.JobID}})
	return ingest.ExitCode(e)
}

func exitTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-7s %-15s %s\n", "0", "-", "committed (an ingest), answered (--find-job, --job-status)")
	for _, k := range ingest.Kinds {
		code := strconv.Itoa(k.Exit)
		if k.Kind == ingest.KindCancelled {
			code = "130/143"
		}
		fmt.Fprintf(&b, "  %-7s %-15s %s\n", code, k.Kind, k.When)
	}
	return b.String()
}
