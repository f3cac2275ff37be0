package cli

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/objkey"
)

// Modes of the binary: one ingest (the default), or one question about the upstream's jobs.
const (
	modeIngest    = "ingest"
	modeFindJob   = "find-job"
	modeJobStatus = "job-status"
)

var (
	attemptRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	jobIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// processIDRe is an ADS process id (the upstream dataset): one safe URL path segment.
	processIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// options are the parsed and checked flags.
type options struct {
	mode                                                string
	baseURL, dataset, input, reqFile, key, attempt, job string // job: --resume-job (ingest) or --job-status ID
	upstream                                            string // the ADS process id: --upstream-dataset, else --dataset
	sink                                                sinkSpec
	timeout, pollInitial, pollMax, queueDeadline, retry time.Duration
	maxTries                                            int
}

// usagef is a bad command line or input: kind usage, exit 2.
func usagef(format string, args ...any) error {
	return &ingest.Error{Kind: ingest.KindUsage, Message: fmt.Sprintf(format, args...)}
}

func newFlagSet() (*flag.FlagSet, *rawFlags) {
	fs := flag.NewFlagSet("jackfruit-ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported as the JSON line; --help prints to stdout
	f := &rawFlags{}
	fs.StringVar(&f.baseURL, "base-url", "", "ADS API root URL, e.g. https://ads.atmosphere.copernicus.eu/api (required)")
	fs.StringVar(&f.dataset, "dataset", "", "jackfruit's dataset name: the {dataset} part of --key, e.g. cams-europe-air-quality-forecasts-analysis (required)")
	fs.StringVar(&f.upstream, "upstream-dataset", "", "the ADS process id of every upstream call (submit, --resume-job, --find-job, --job-status), e.g. cams-europe-air-quality-forecasts (default: --dataset)")
	fs.StringVar(&f.input, "input", "", "'-': read {\"request\":…,\"api_key\":…} as the first stdin line, then watch stdin (EOF = parent gone → cancel)")
	fs.StringVar(&f.reqFile, "request-file", "", "JSON object of ADS inputs; '-' reads all of stdin (alternative to --input)")
	fs.StringVar(&f.key, "key", "", "sink object key (required for an ingest; see KEY above)")
	fs.StringVar(&f.sinkURL, "sink", "", "sink URL: file:///ABS/DIR or s3://BUCKET?endpoint=… (see above; or --sink-dir)")
	fs.StringVar(&f.sinkDir, "sink-dir", "", "filesystem sink root directory; same as --sink file://DIR")
	fs.StringVar(&f.attempt, "attempt", "", "lowercase UUID of this attempt: staged uploads are DIR/.partial/{attempt}.upload-*; S3 objects carry it as x-amz-meta-jackfruit-attempt")
	fs.StringVar(&f.resumeJob, "resume-job", "", "ADS job id to follow instead of submitting; an object already at KEY is adopted (verified), not a conflict")
	fs.BoolVar(&f.findJob, "find-job", false, "mode: answer the upstream's job for the request (newest held one preferred) or none; nothing submitted, no sink")
	fs.StringVar(&f.jobStatus, "job-status", "", "mode: answer the state of this ADS job (held or not); nothing submitted, no sink")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "overall deadline; exceeded → unavailable (exit 6)")
	fs.DurationVar(&f.pollInitial, "poll-initial", time.Second, "first poll interval (and retry backoff base); grows ×1.5")
	fs.DurationVar(&f.pollMax, "poll-max", 120*time.Second, "poll interval cap")
	fs.IntVar(&f.maxTries, "max-tries", 10, "attempts per HTTP call on 408/429/5xx/transport errors (and per download); or --max-retries")
	fs.IntVar(&f.maxRetries, "max-retries", 9, "retries per HTTP call (and per download) after the first try: the same as --max-tries N+1")
	fs.DurationVar(&f.queueDeadline, "queue-deadline", 0, "give up (unavailable) when the job is still queued ('accepted') this long after it was submitted or resumed; 0 = only --timeout")
	fs.DurationVar(&f.retryAfter, "retry-after", 120*time.Second, "cap on any retry delay, including server Retry-After")
	return fs, f
}

type rawFlags struct {
	baseURL, dataset, upstream, input, reqFile, key, sinkURL, sinkDir, attempt, resumeJob, jobStatus string
	findJob                                                                                          bool
	timeout, pollInitial, pollMax, queueDeadline, retryAfter                                         time.Duration
	maxTries, maxRetries                                                                             int
}

// check validates the parsed flags of fs (every check made before any network call).
func (f *rawFlags) check(fs *flag.FlagSet) (*options, error) {
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments: %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	o := &options{mode: modeIngest, baseURL: f.baseURL, dataset: f.dataset, upstream: f.upstream, input: f.input, reqFile: f.reqFile,
		key: f.key, attempt: f.attempt, job: f.resumeJob, timeout: f.timeout, pollInitial: f.pollInitial,
		pollMax: f.pollMax, queueDeadline: f.queueDeadline, retry: f.retryAfter, maxTries: f.maxTries}
	switch {
	case f.findJob && given["job-status"]:
		return nil, usagef("give --find-job or --job-status ID, not both")
	case f.findJob:
		o.mode = modeFindJob
	case given["job-status"]:
		o.mode, o.job = modeJobStatus, f.jobStatus
	}
	required := []struct{ name, v string }{{"--base-url", f.baseURL}, {"--dataset", f.dataset}}
	if o.mode == modeIngest {
		required = append(required, struct{ name, v string }{"--key", f.key})
	} else {
		// A question about jobs touches no sink and follows no job.
		for _, name := range []string{"key", "sink", "sink-dir", "attempt", "resume-job"} {
			if given[name] {
				return nil, usagef("--%s is for an ingest, not for --%s", name, o.mode)
			}
		}
	}
	for _, r := range required {
		if r.v == "" {
			return nil, usagef("%s is required (see --help)", r.name)
		}
	}
	if !given["upstream-dataset"] {
		o.upstream = f.dataset // the dataset is its own upstream id (callers before --upstream-dataset)
	}
	if !processIDRe.MatchString(o.upstream) {
		flagName := "--upstream-dataset"
		if !given["upstream-dataset"] {
			flagName = "--dataset (the upstream id when --upstream-dataset is not given)"
		}
		return nil, usagef("%s must be an ADS process id: one path segment of letters, digits, '.', '_', '-', "+
			"starting with a letter or digit, at most 128 (got %q)", flagName, o.upstream)
	}
	switch {
	case (f.input == "") == (f.reqFile == ""):
		return nil, usagef("exactly one of --input - and --request-file is required (see --help)")
	case f.input != "" && f.input != "-":
		return nil, usagef("--input only accepts '-' (stdin)")
	case o.mode == modeIngest && (f.sinkURL == "") == (f.sinkDir == ""):
		return nil, usagef("exactly one of --sink URL and --sink-dir DIR is required (see --help)")
	}
	if given["max-retries"] {
		if given["max-tries"] {
			return nil, usagef("give --max-retries or --max-tries, not both")
		}
		if f.maxRetries < 0 {
			return nil, usagef("--max-retries must be >= 0")
		}
		o.maxTries = f.maxRetries + 1
	}
	if o.maxTries < 1 || o.timeout <= 0 || o.pollInitial <= 0 || o.pollMax <= 0 || o.retry <= 0 || o.queueDeadline < 0 {
		return nil, usagef("--max-tries must be >= 1, --queue-deadline >= 0 and the other durations > 0")
	}
	if err := checkBaseURL(f.baseURL); err != nil {
		return nil, usagef("--base-url: %v", err)
	}
	if o.mode == modeIngest {
		if _, err := objkey.Validate(f.key, f.dataset); err != nil {
			return nil, usagef("invalid --key: %v", err)
		}
	}
	if f.attempt != "" && !attemptRe.MatchString(f.attempt) {
		return nil, usagef("--attempt must be a lowercase canonical UUID (8-4-4-4-12 hex digits)")
	}
	if o.job != "" && !jobIDRe.MatchString(o.job) || o.mode == modeJobStatus && o.job == "" {
		flagName := map[string]string{modeIngest: "--resume-job", modeJobStatus: "--job-status"}[o.mode]
		return nil, usagef("%s must be an ADS job id (letters, digits, '.', '_', '-'; at most 128)", flagName)
	}
	if o.mode != modeIngest {
		return o, nil
	}
	o.sink = sinkSpec{dir: f.sinkDir}
	if f.sinkURL != "" {
		spec, err := parseSinkURL(f.sinkURL)
		if err != nil {
			return nil, usagef("--sink: %v", err)
		}
		o.sink = spec
	}
	return o, nil
}
