// Package cli is the jackfruit-ingest command: flags, the stdin line, the modes (an ingest, --find-job,
// --job-status) and the result line with its exit code (docs/ingester-protocol.md). cmd/jackfruit-ingest only calls
// Main.
package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
)

// Main runs the command with args (without the program name) and returns its exit status. getenv reads the
// environment (the API key and S3 credentials when they are not on the input line).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	// A parent that dies closes our stdout: writes then fail with EPIPE instead of killing us
	// mid-upload, so the cleanup still runs.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	out := &lineWriter{w: stdout}
	usageErr := func(err error) int {
		return out.fail(&ingest.Error{Kind: ingest.KindUsage, Message: err.Error()})
	}
	fs, raw := newFlagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, usage, exitTable())
			fs.PrintDefaults()
			return 0
		}
		return usageErr(err)
	}
	o, err := raw.check(fs)
	if err != nil {
		return usageErr(err)
	}

	var (
		in    stdinInput
		lines *bufio.Reader // non-nil: watch it once the input line is read
	)
	if o.input == "-" {
		lines = bufio.NewReaderSize(stdin, 64<<10)
		if in, err = readInputLine(lines); err != nil {
			return usageErr(fmt.Errorf("--input: %v", err))
		}
	} else if in.request, err = readRequest(o.reqFile, stdin); err != nil {
		return usageErr(fmt.Errorf("--request-file: %v", err))
	}
	if in.apiKey == "" {
		in.apiKey = getenv("ADS_API_KEY")
	}
	if in.apiKey == "" {
		return usageErr(errors.New(`no API key: give "api_key" in the --input line or set $ADS_API_KEY (never a flag)`))
	}
	cfg := ingest.Config{
		BaseURL: o.baseURL, Dataset: o.dataset, Key: o.key, APIKey: in.apiKey, Inputs: in.request,
		Timeout: o.timeout, PollInitial: o.pollInitial, PollMax: o.pollMax, MaxTries: o.maxTries,
		RetryAfterMax: o.retry, QueueDeadline: o.queueDeadline,
	}
	if o.mode == modeIngest {
		snk, why, err := openSink(o.sink, in.s3, o.attempt, getenv)
		if err != nil {
			return out.fail(&ingest.Error{Kind: ingest.KindUnavailable, Message: "the raw sink is not writable (nothing submitted): " + err.Error()})
		}
		if why != "" {
			return usageErr(errors.New(why))
		}
		cfg.Sink, cfg.ResumeJobID = snk, o.job
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	var watched io.Reader
	if lines != nil {
		watched = lines
	}
	ctx, stop := watch(cfg.Logger, watched)
	defer stop.cancel()

	var result any
	switch o.mode {
	case modeFindJob:
		var a *ingest.JobAnswer
		a, err = ingest.FindJob(ctx, cfg)
		result = map[string]any{"job": a}
	case modeJobStatus:
		var a *ingest.JobAnswer
		a, err = ingest.JobStatus(ctx, cfg, o.job)
		result = map[string]any{"job": a}
	default:
		cfg.OnEvent = func(ev ingest.Event) {
			if err := out.put(ev); err != nil {
				stop.stop(syscall.SIGTERM, "parent went away (stdout: "+err.Error()+")")
			}
		}
		result, err = ingest.Run(ctx, cfg)
	}
	if err != nil {
		e := ingest.AsError(err)
		if e.Kind == ingest.KindCancelled {
			sig, why := stop.reason()
			e.Signal, e.Message = int(sig), "cancelled: "+why+"; nothing committed"
			if why == "" {
				e.Signal, e.Message = int(syscall.SIGINT), "cancelled; nothing committed"
			}
		}
		cfg.Logger.Error(o.mode+" failed", "kind", e.Kind, "message", e.Message)
		return out.fail(e)
	}
	_ = out.put(result)
	return 0
}
