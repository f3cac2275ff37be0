// Package cli is the jackfruit-ingest command: flags, the stdin line, the modes (an ingest, --find-job,
// --job-status) and the result line with its exit code (docs/ingester-protocol.md). cmd/jackfruit-ingest only calls
// Main.
package cli

import (
	"bufio"
	"context"
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
	fs, raw := newFlagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, usage, exitTable())
			fs.PrintDefaults()
			return 0
		}
		return out.fail(&ingest.Error{Kind: ingest.KindUsage, Message: err.Error()})
	}
	o, err := raw.check(fs)
	if err != nil {
		return out.fail(ingest.AsError(err))
	}
	cfg, lines, err := configure(o, stdin, getenv)
	if err != nil {
		return out.fail(ingest.AsError(err))
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	var watched io.Reader
	if lines != nil {
		watched = lines
	}
	ctx, stop := watch(cfg.Logger, watched)
	defer stop.cancel()
	result, err := execute(ctx, o, cfg, out, stop)
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

// configure reads the input (the --input line, or --request-file) and makes the flow's configuration, with the
// sink for an ingest. lines, when not nil, is stdin after the input line: to be watched (its end: the parent died).
func configure(o *options, stdin io.Reader, getenv func(string) string) (cfg ingest.Config, lines *bufio.Reader, err error) {
	var in stdinInput
	if o.input == "-" {
		lines = bufio.NewReaderSize(stdin, 64<<10)
		if in, err = readInputLine(lines); err != nil {
			return cfg, nil, usagef("--input: %v", err)
		}
	} else if in.request, err = readRequest(o.reqFile, stdin); err != nil {
		return cfg, nil, usagef("--request-file: %v", err)
	}
	if in.apiKey == "" {
		in.apiKey = getenv("ADS_API_KEY")
	}
	if in.apiKey == "" {
		return cfg, nil, usagef(`no API key: give "api_key" in the --input line or set $ADS_API_KEY (never a flag)`)
	}
	cfg = ingest.Config{
		BaseURL: o.baseURL, ProcessID: o.upstream, Key: o.key, APIKey: in.apiKey, Inputs: in.request,
		Timeout: o.timeout, PollInitial: o.pollInitial, PollMax: o.pollMax, MaxTries: o.maxTries,
		RetryAfterMax: o.retry, QueueDeadline: o.queueDeadline,
	}
	if o.mode == modeIngest {
		snk, why, err := openSink(o.sink, in.s3, o.attempt, getenv)
		if err != nil {
			return cfg, nil, &ingest.Error{Kind: ingest.KindUnavailable, Message: "the raw sink is not writable (nothing submitted): " + err.Error()}
		}
		if why != "" {
			return cfg, nil, usagef("%s", why)
		}
		cfg.Sink, cfg.ResumeJobID = snk, o.job
	}
	return cfg, lines, nil
}

// execute runs the mode: an ingest (its events on out as they happen; a failed write stops it) or a query. The
// result is the line to print.
func execute(ctx context.Context, o *options, cfg ingest.Config, out *lineWriter, stop *stopper) (any, error) {
	switch o.mode {
	case modeFindJob:
		a, err := ingest.FindJob(ctx, cfg)
		return map[string]any{"job": a}, err
	case modeJobStatus:
		a, err := ingest.JobStatus(ctx, cfg, o.job)
		return map[string]any{"job": a}, err
	}
	cfg.OnEvent = func(ev ingest.Event) {
		if err := out.put(ev); err != nil {
			stop.stop(syscall.SIGTERM, "parent went away (stdout: "+err.Error()+")")
		}
	}
	return ingest.Run(ctx, cfg)
}
