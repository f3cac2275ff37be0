// Command jackfruit-ingest retrieves one ADS request and commits the verified file to a write-once sink.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/objkey"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

const usage = `Usage: jackfruit-ingest --base-url URL --dataset NAME --request-file PATH|- --key KEY --sink-dir DIR
                        [--timeout 30m] [--poll-initial 1s] [--poll-max 120s] [--max-tries 10] [--retry-after 120s]

Submits the ADS request (JSON object of inputs) to {base-url}/retrieve/v1, polls the job,
downloads the result (resuming with Range when possible), verifies its size against the ADS
file:size, and commits it write-once to DIR/KEY. The API key is read ONLY from $ADS_API_KEY.

KEY: {source}/{dataset}/{YYYY-MM-DD}/{run_id}.{ext}; source, dataset ~ ^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$
     without "..", a real calendar date, run_id a lowercase UUIDv7, ext ~ ^[a-z0-9]{1,8}$,
     and the dataset part must equal --dataset.

stdout (exactly one JSON line):
  success: {"key","size","sha256","content_type","ads_job_id","ads_file_size","submitted_at",
            "finished_at","timings_ms":{"submit","wait","download","total"},"polls","retries","resumes"}
  failure: {"error":{"kind","message","http_status"?,"ads_job_id"?}}
stderr: JSON logs (no secrets).

Exit codes / error kinds:
  0 ok | 1 internal | 2 usage (bad flags, missing $ADS_API_KEY, invalid key or request file)
  3 invalid_request (400), auth (401/403), not_found (404) | 4 job_failed (failed/rejected/dismissed/vanished)
  5 unavailable (retries exhausted, --timeout) | 6 integrity (size mismatch, truncation; nothing committed)
  7 conflict (key already exists; nothing submitted) | 130/143 cancelled (SIGINT/SIGTERM; nothing committed)

Flags:
`

func main() { os.Exit(run()) }

func run() int {
	out := json.NewEncoder(os.Stdout)
	fail := func(e *ingest.Error) int {
		type body struct {
			Kind       ingest.Kind `json:"kind"`
			Message    string      `json:"message"`
			HTTPStatus int         `json:"http_status,omitempty"`
			ADSJobID   string      `json:"ads_job_id,omitempty"`
		}
		_ = out.Encode(map[string]body{"error": {e.Kind, e.Message, e.HTTPStatus, e.JobID}})
		return ingest.ExitCode(e)
	}
	usageErr := func(format string, args ...any) int {
		return fail(&ingest.Error{Kind: ingest.KindUsage, Message: fmt.Sprintf(format, args...)})
	}

	fs := flag.NewFlagSet("jackfruit-ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported as the JSON line; --help prints to stdout below
	baseURL := fs.String("base-url", "", "ADS API root URL, e.g. https://ads.atmosphere.copernicus.eu/api (required)")
	dataset := fs.String("dataset", "", "dataset (process id), e.g. cams-europe-air-quality-forecasts (required)")
	reqFile := fs.String("request-file", "", "JSON object of ADS inputs; '-' reads stdin (required)")
	key := fs.String("key", "", "sink object key (required; see KEY above)")
	sinkDir := fs.String("sink-dir", "", "filesystem sink root directory (required)")
	timeout := fs.Duration("timeout", 30*time.Minute, "overall deadline; exceeded → exit 5")
	pollInitial := fs.Duration("poll-initial", time.Second, "first poll interval (and retry backoff base); grows ×1.5")
	pollMax := fs.Duration("poll-max", 120*time.Second, "poll interval cap")
	maxTries := fs.Int("max-tries", 10, "attempts per HTTP call on 408/429/5xx/transport errors (and per download)")
	retryAfter := fs.Duration("retry-after", 120*time.Second, "cap on any retry delay, including server Retry-After")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Fprint(os.Stdout, usage)
			fs.PrintDefaults()
			return 0
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %q", fs.Args())
	}
	for name, v := range map[string]string{"--base-url": *baseURL, "--dataset": *dataset, "--request-file": *reqFile, "--key": *key, "--sink-dir": *sinkDir} {
		if v == "" {
			return usageErr("%s is required (see --help)", name)
		}
	}
	if *maxTries < 1 || *timeout <= 0 || *pollInitial <= 0 || *pollMax <= 0 || *retryAfter <= 0 {
		return usageErr("--max-tries must be >= 1 and durations > 0")
	}
	apiKey := os.Getenv("ADS_API_KEY")
	if apiKey == "" {
		return usageErr("$ADS_API_KEY is not set (the API key is never taken from flags)")
	}
	if _, err := objkey.Validate(*key, *dataset); err != nil {
		return usageErr("invalid --key: %v", err)
	}
	inputs, err := readRequest(*reqFile)
	if err != nil {
		return usageErr("--request-file: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	fsink, err := sink.NewFS(*sinkDir)
	if err != nil {
		return fail(&ingest.Error{Kind: ingest.KindInternal, Message: "sink: " + err.Error()})
	}

	// Track which signal arrived so the exit status is 130 (INT) or 143 (TERM).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	var got os.Signal
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case got = <-sigc:
			log.Warn("signal received; aborting", "signal", got.String())
			cancel()
		case <-done:
		}
	}()

	m, err := ingest.Run(ctx, ingest.Config{
		BaseURL: *baseURL, Dataset: *dataset, Key: *key, APIKey: apiKey, Inputs: inputs, Sink: fsink,
		Timeout: *timeout, PollInitial: *pollInitial, PollMax: *pollMax, MaxTries: *maxTries,
		RetryAfterMax: *retryAfter, Logger: log,
	})
	close(done)
	<-exited // makes the write to got visible here
	signal.Stop(sigc)
	if err != nil {
		e := ingest.AsError(err)
		if s, ok := got.(syscall.Signal); ok && e.Kind == ingest.KindCancelled {
			e.Signal = int(s)
		}
		log.Error("ingest failed", "kind", e.Kind, "message", e.Message)
		return fail(e)
	}
	_ = out.Encode(m)
	return 0
}

func readRequest(path string) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, errors.New("must contain a JSON object of ADS inputs")
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}
