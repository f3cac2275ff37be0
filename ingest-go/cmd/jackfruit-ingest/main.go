// Command jackfruit-ingest retrieves one ADS request and commits the verified file to a write-once sink.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/objkey"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

const usage = `Usage: jackfruit-ingest --base-url URL --dataset NAME (--input - | --request-file PATH|-) --key KEY
                        (--sink URL | --sink-dir DIR) [--attempt UUID] [--resume-job ID]
                        [--timeout 30m] [--poll-initial 1s] [--poll-max 120s] [--queue-deadline 0s]
                        [--max-retries 9 | --max-tries 10] [--retry-after 120s]

Submits the ADS request (JSON object of inputs) to {base-url}/retrieve/v1 (or, with --resume-job,
follows that existing job instead), polls the job, downloads the result (resuming with Range when
possible), verifies its size against the ADS file:size, and commits it write-once to the sink at KEY.

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
  failure: {"error":{"kind","message","http_status"?,"ads_job_id"?}}
stderr: JSON logs (no secrets).

Exit codes / error kinds (the same codes as the jackfruit CLI; docs/ingester-protocol.md):
%s
Flags:
`

var (
	attemptRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	jobIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

const maxInputLine = 1 << 20

func main() { os.Exit(run()) }

// lineWriter prints whole JSON lines on stdout, one Write each (os.Stdout is unbuffered: each
// line reaches the parent when it is written).
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

func exitTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-7s %-15s %s\n", "0", "-", "committed")
	for _, k := range ingest.Kinds {
		code := strconv.Itoa(k.Exit)
		if k.Kind == ingest.KindCancelled {
			code = "130/143"
		}
		fmt.Fprintf(&b, "  %-7s %-15s %s\n", code, k.Kind, k.When)
	}
	return b.String()
}

func run() int {
	// A parent that dies closes our stdout: writes then fail with EPIPE instead of killing us
	// mid-upload, so the cleanup below still runs.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	out := &lineWriter{w: os.Stdout}
	fail := func(e *ingest.Error) int {
		type body struct {
			Kind       ingest.Kind `json:"kind"`
			Message    string      `json:"message"`
			HTTPStatus int         `json:"http_status,omitempty"`
			ADSJobID   string      `json:"ads_job_id,omitempty"`
		}
		_ = out.put(map[string]body{"error": {e.Kind, e.Message, e.HTTPStatus, e.JobID}})
		return ingest.ExitCode(e)
	}
	usageErr := func(format string, args ...any) int {
		return fail(&ingest.Error{Kind: ingest.KindUsage, Message: fmt.Sprintf(format, args...)})
	}

	fs := flag.NewFlagSet("jackfruit-ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported as the JSON line; --help prints to stdout below
	baseURL := fs.String("base-url", "", "ADS API root URL, e.g. https://ads.atmosphere.copernicus.eu/api (required)")
	dataset := fs.String("dataset", "", "dataset (process id), e.g. cams-europe-air-quality-forecasts (required)")
	input := fs.String("input", "", "'-': read {\"request\":…,\"api_key\":…} as the first stdin line, then watch stdin (EOF = parent gone → cancel)")
	reqFile := fs.String("request-file", "", "JSON object of ADS inputs; '-' reads all of stdin (alternative to --input)")
	key := fs.String("key", "", "sink object key (required; see KEY above)")
	sinkURL := fs.String("sink", "", "sink URL: file:///ABS/DIR or s3://BUCKET?endpoint=… (see above; or --sink-dir)")
	sinkDir := fs.String("sink-dir", "", "filesystem sink root directory; same as --sink file://DIR")
	attempt := fs.String("attempt", "", "lowercase UUID of this attempt: staged uploads are DIR/.partial/{attempt}.upload-*; S3 objects carry it as x-amz-meta-jackfruit-attempt")
	resumeJob := fs.String("resume-job", "", "ADS job id to follow instead of submitting; an object already at KEY is adopted (verified), not a conflict")
	timeout := fs.Duration("timeout", 30*time.Minute, "overall deadline; exceeded → unavailable (exit 6)")
	pollInitial := fs.Duration("poll-initial", time.Second, "first poll interval (and retry backoff base); grows ×1.5")
	pollMax := fs.Duration("poll-max", 120*time.Second, "poll interval cap")
	maxTries := fs.Int("max-tries", 10, "attempts per HTTP call on 408/429/5xx/transport errors (and per download); or --max-retries")
	maxRetries := fs.Int("max-retries", 9, "retries per HTTP call (and per download) after the first try: the same as --max-tries N+1")
	queueDeadline := fs.Duration("queue-deadline", 0, "give up (unavailable) when the job is still queued ('accepted') this long after it was submitted or resumed; 0 = only --timeout")
	retryAfter := fs.Duration("retry-after", 120*time.Second, "cap on any retry delay, including server Retry-After")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Fprintf(os.Stdout, usage, exitTable())
			fs.PrintDefaults()
			return 0
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %q", fs.Args())
	}
	for _, f := range []struct{ name, v string }{{"--base-url", *baseURL}, {"--dataset", *dataset}, {"--key", *key}} {
		if f.v == "" {
			return usageErr("%s is required (see --help)", f.name)
		}
	}
	switch {
	case (*input == "") == (*reqFile == ""):
		return usageErr("exactly one of --input - and --request-file is required (see --help)")
	case *input != "" && *input != "-":
		return usageErr("--input only accepts '-' (stdin)")
	case (*sinkURL == "") == (*sinkDir == ""):
		return usageErr("exactly one of --sink URL and --sink-dir DIR is required (see --help)")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["max-retries"] {
		if given["max-tries"] {
			return usageErr("give --max-retries or --max-tries, not both")
		}
		if *maxRetries < 0 {
			return usageErr("--max-retries must be >= 0")
		}
		*maxTries = *maxRetries + 1
	}
	if *maxTries < 1 || *timeout <= 0 || *pollInitial <= 0 || *pollMax <= 0 || *retryAfter <= 0 || *queueDeadline < 0 {
		return usageErr("--max-tries must be >= 1, --queue-deadline >= 0 and the other durations > 0")
	}
	if err := checkBaseURL(*baseURL); err != nil {
		return usageErr("--base-url: %v", err)
	}
	if _, err := objkey.Validate(*key, *dataset); err != nil {
		return usageErr("invalid --key: %v", err)
	}
	if *attempt != "" && !attemptRe.MatchString(*attempt) {
		return usageErr("--attempt must be a lowercase canonical UUID (8-4-4-4-12 hex digits)")
	}
	if *resumeJob != "" && !jobIDRe.MatchString(*resumeJob) {
		return usageErr("--resume-job must be an ADS job id (letters, digits, '.', '_', '-'; at most 128)")
	}
	spec := sinkSpec{dir: *sinkDir}
	var err error
	if *sinkURL != "" {
		if spec, err = parseSinkURL(*sinkURL); err != nil {
			return usageErr("--sink: %v", err)
		}
	}

	var (
		in    stdinInput
		stdin *bufio.Reader // non-nil: watch it once the input line is read
	)
	if *input == "-" {
		stdin = bufio.NewReaderSize(os.Stdin, 64<<10)
		if in, err = readInputLine(stdin); err != nil {
			return usageErr("--input: %v", err)
		}
	} else if in.request, err = readRequest(*reqFile); err != nil {
		return usageErr("--request-file: %v", err)
	}
	inputs, apiKey := in.request, in.apiKey
	if apiKey == "" {
		apiKey = os.Getenv("ADS_API_KEY")
	}
	if apiKey == "" {
		return usageErr("no API key: give \"api_key\" in the --input line or set $ADS_API_KEY (never a flag)")
	}
	var snk sink.Sink
	if spec.s3 != nil {
		cfg := *spec.s3
		if in.s3 != nil {
			cfg.Credentials = *in.s3
		} else {
			cfg.Credentials = sink.S3Credentials{AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
			if cfg.Credentials.AccessKey != "" {
				cfg.Credentials.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
			}
		}
		if cfg.Credentials.AccessKey == "" || cfg.Credentials.SecretKey == "" {
			return usageErr(`no S3 credentials: give "s3": {"access_key": …, "secret_key": …} in the --input line or set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY (never in the URL or a flag)`)
		}
		s3sink, err := sink.NewS3(cfg)
		if err != nil {
			return usageErr("--sink: %v", err)
		}
		s3sink.Attempt = *attempt
		snk = s3sink
	} else {
		fsink, err := sink.NewFS(spec.dir)
		if err != nil {
			return fail(&ingest.Error{Kind: ingest.KindUnavailable, Message: "the raw sink is not writable (nothing submitted): " + err.Error()})
		}
		fsink.Attempt = *attempt
		snk = fsink
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	// One way to stop, whatever the reason: the first reason wins and decides the exit status
	// (130 for SIGINT, 143 for SIGTERM and for a parent that went away).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		stopMu  sync.Mutex
		stopSig syscall.Signal
		stopWhy string
	)
	stop := func(sig syscall.Signal, why string) {
		stopMu.Lock()
		if stopWhy == "" {
			stopSig, stopWhy = sig, why
			log.Warn("stopping: nothing will be committed", "reason", why)
		}
		stopMu.Unlock()
		cancel()
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigc {
			stop(s.(syscall.Signal), "signal "+s.String()+" received")
		}
	}()
	if stdin != nil {
		go func() {
			// Nothing more is expected on stdin; its end is the parent's death.
			_, err := io.Copy(io.Discard, stdin)
			why := "parent went away (stdin closed)"
			if err != nil {
				why = "parent went away (stdin: " + err.Error() + ")"
			}
			stop(syscall.SIGTERM, why)
		}()
	}
	onEvent := func(ev ingest.Event) {
		if err := out.put(ev); err != nil {
			stop(syscall.SIGTERM, "parent went away (stdout: "+err.Error()+")")
		}
	}

	m, err := ingest.Run(ctx, ingest.Config{
		BaseURL: *baseURL, Dataset: *dataset, Key: *key, APIKey: apiKey, Inputs: inputs, Sink: snk,
		ResumeJobID: *resumeJob, OnEvent: onEvent,
		Timeout: *timeout, PollInitial: *pollInitial, PollMax: *pollMax, MaxTries: *maxTries,
		RetryAfterMax: *retryAfter, QueueDeadline: *queueDeadline, Logger: log,
	})
	if err != nil {
		e := ingest.AsError(err)
		if e.Kind == ingest.KindCancelled {
			stopMu.Lock()
			e.Signal, e.Message = int(stopSig), "cancelled: "+stopWhy+"; nothing committed"
			if stopWhy == "" {
				e.Signal, e.Message = int(syscall.SIGINT), "cancelled; nothing committed"
			}
			stopMu.Unlock()
		}
		log.Error("ingest failed", "kind", e.Kind, "message", e.Message)
		return fail(e)
	}
	_ = out.put(m)
	return 0
}

// checkBaseURL refuses an upstream that can never work, before any network call.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q does not parse as a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https, not %q", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries user information; the API key travels only as PRIVATE-TOKEN", redactUser(u))
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not in 1..65535", raw, p)
		}
	}
	return nil
}

func redactUser(u *url.URL) string {
	c := *u
	c.User = url.User("***")
	return c.String()
}

// sinkSpec is a parsed --sink / --sink-dir: a filesystem root, or an S3 bucket (credentials
// still to come from the input line or the environment).
type sinkSpec struct {
	dir string
	s3  *sink.S3Config
}

// parseSinkURL parses file:///ABS/DIR or s3://BUCKET?…; its errors never quote the URL (it may
// carry a secret by mistake).
func parseSinkURL(raw string) (sinkSpec, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return sinkSpec{}, errors.New("must be a URL: file:///ABS/DIR or s3://BUCKET?endpoint=…")
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return sinkSpec{}, errors.New("the file URL does not parse")
		}
		if u.User != nil || (u.Host != "" && u.Host != "localhost") || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
			return sinkSpec{}, errors.New("a file sink URL is file:///ABS/DIR (absolute path; no host, user info, query or fragment)")
		}
		return sinkSpec{dir: u.Path}, nil
	case "s3":
		cfg, err := sink.ParseS3URL(raw)
		if err != nil {
			return sinkSpec{}, err
		}
		return sinkSpec{s3: &cfg}, nil
	}
	return sinkSpec{}, fmt.Errorf("scheme must be file or s3, not %q", scheme)
}

// stdinInput is the first stdin line of --input -.
type stdinInput struct {
	request json.RawMessage
	apiKey  string
	s3      *sink.S3Credentials // nil: not given
}

// readInputLine reads the first stdin line: {"request": {...}, "api_key": "...", "s3": {...}}. The
// message of a failure never quotes the line (it may hold keys).
func readInputLine(r *bufio.Reader) (stdinInput, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxInputLine {
			return stdinInput{}, fmt.Errorf("the first stdin line is longer than %d bytes", maxInputLine)
		}
		if err == nil || (errors.Is(err, io.EOF) && len(line) > 0) {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return stdinInput{}, errors.New("stdin ended before the input line")
		}
		return stdinInput{}, fmt.Errorf("reading stdin: %v", err)
	}
	var in struct {
		Request json.RawMessage `json:"request"`
		APIKey  *string         `json:"api_key"`
		S3      *struct {
			AccessKey    string `json:"access_key"`
			SecretKey    string `json:"secret_key"`
			SessionToken string `json:"session_token"`
		} `json:"s3"`
	}
	bad := errors.New(`the first stdin line must be one JSON object {"request": {...ADS inputs...}, "api_key": "...", ` +
		`"s3": {"access_key": "...", "secret_key": "...", "session_token": "..."}} (api_key, s3 and session_token optional; strings)`)
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&in); err != nil {
		return stdinInput{}, bad
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return stdinInput{}, bad
	}
	req, err := compactObject(in.Request)
	if err != nil {
		return stdinInput{}, fmt.Errorf("\"request\" %v", err)
	}
	out := stdinInput{request: req}
	if in.APIKey != nil {
		out.apiKey = *in.APIKey
	}
	if in.S3 != nil {
		if in.S3.AccessKey == "" || in.S3.SecretKey == "" {
			return stdinInput{}, errors.New(`"s3" needs non-empty "access_key" and "secret_key" ("session_token" optional)`)
		}
		out.s3 = &sink.S3Credentials{AccessKey: in.S3.AccessKey, SecretKey: in.S3.SecretKey, SessionToken: in.S3.SessionToken}
	}
	return out, nil
}

func readRequest(path string) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, maxInputLine))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return compactObject(b)
}

func compactObject(b []byte) (json.RawMessage, error) {
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
