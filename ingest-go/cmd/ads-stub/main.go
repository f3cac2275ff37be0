// Command ads-stub serves an ADS-compatible retrieve API on loopback: cams-europe-air-quality-forecasts from its built-in
// generator, or the process ids of --datasets with products made by --product-command.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("ads-stub", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: ads-stub --api-key KEY [flags]

Serves the ADS retrieve API (root URL printed on stdout as one JSON line
{"url":"http://127.0.0.1:PORT/api","pid":N}) for cams-europe-air-quality-forecasts,
generating GRIB2 on the fly; or for the process ids of --datasets, each job's product made by
--product-command (one JSON line {"dataset","request"} on its stdin, the product on its stdout, a non-zero
exit = the job failed with its stderr). Logs are JSON on stderr. Test control (no auth): GET /_stub/jobs lists jobs,
GET /_stub/job-counts counts the jobs made per request, POST /_stub/jobs makes a job in a given state,
POST /_stub/jobs/{id}/expire purges a successful job's results (ingest-go/README.md).

Flags:
`)
		fs.PrintDefaults()
	}
	var o stub.Options
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&o.APIKey, "api-key", "", "required PRIVATE-TOKEN value (required)")
	fs.IntVar(&o.AcceptedPolls, "accepted-polls", 1, "status polls answered 'accepted' (>=1)")
	fs.IntVar(&o.RunningPolls, "running-polls", 1, "then status polls answered 'running' (>=1) before the job ends")
	fs.StringVar(&o.WorkDir, "work-dir", "", "directory for generated assets (default: a temp dir removed on exit)")
	fs.IntVar(&o.BitsPerValue, "bits", 16, "GRIB simple-packing bits per value (1..32)")
	fs.IntVar(&o.FailFirstSubmit, "fail-first-submit", 0, "fault: answer the first submit with this HTTP status (e.g. 503)")
	fs.IntVar(&o.RateLimitFirstPoll, "rate-limit-first-poll", 0, "fault: answer the first job poll 429 with Retry-After SECONDS")
	fs.Int64Var(&o.TruncateDownloadOnce, "truncate-download-once", 0, "fault: cut the first download GET after BYTES bytes")
	fs.BoolVar(&o.IgnoreRange, "ignore-range", false, "fault: ignore Range on downloads (always 200 full body)")
	fs.Int64Var(&o.SizeDelta, "misreport-size", 0, "fault: add DELTA to the advertised file:size")
	fs.BoolVar(&o.FailJobs, "fail-jobs", false, "fault: jobs end 'failed' (results 400 with traceback)")
	fs.BoolVar(&o.RequireLicence, "require-licence", false, "fault: submits get 403 'required licences not accepted'")
	licenceFor := fs.String("require-licence-for", "", "fault: submits to these process ids (comma-separated) get 403 'required licences not accepted'")
	datasets := fs.String("datasets", "cams-europe-air-quality-forecasts", "the process ids served, comma-separated (others: 404); other than the default need --product-command")
	productCommand := fs.String("product-command", "", `argv as a JSON array of strings, e.g. '["python","-m","jackfruit.synthetic.product_command"]': makes every job's product instead of the built-in generator`)
	fs.DurationVar(&o.ProductTimeout, "product-timeout", stub.DefaultProductTimeout, "kill a product command still running after this long; its job ends failed")
	fs.BoolVar(&o.RelativeHref, "relative-href", false, "serve the results href relative to the results URL")
	fs.IntVar(&o.ExpireResults, "expire-results", 0, "fault: the results of the first N successful jobs asked for answer 404 'results expired' (for good)")
	fs.IntVar(&o.ExpireDownloads, "expire-downloads", 0, "fault: the first N download GETs (counted across jobs) answer 404 (an expired link; the results stay available)")
	fs.IntVar(&o.DropSubmitReplies, "drop-submit-replies", 0, "fault: the first N submits create their job, then the connection is closed without a reply")
	fs.IntVar(&o.StallSubmitReplies, "stall-submit-replies", 0, "fault: the first N submits create their job, then hold the reply until the client goes away")
	fs.Int64Var(&o.SyntheticSize, "synthetic-size", 0, "serve every job's asset as BYTES deterministic pseudo-random bytes generated while served (benchmarks; not GRIB)")
	jobSeconds := fs.Float64("job-seconds", 0, "a job stays accepted/running for at least F seconds of wall time (besides the poll counts)")
	fs.Int64Var(&o.DownloadBytesPerSec, "download-bytes-per-sec", 0, "throttle each download to N bytes/s (0 = unthrottled)")
	fs.DurationVar(&o.SubmitDelay, "submit-delay", 0, "answer each submit after this long (a slow upstream)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.APIKey == "" || o.AcceptedPolls < 1 || o.RunningPolls < 1 || *jobSeconds < 0 || o.DownloadBytesPerSec < 0 || o.SubmitDelay < 0 || o.ProductTimeout <= 0 ||
		o.ExpireResults < 0 || o.ExpireDownloads < 0 || o.DropSubmitReplies < 0 || o.StallSubmitReplies < 0 || o.SyntheticSize < 0 {
		fmt.Fprintln(os.Stderr, "ads-stub: --api-key is required; --accepted-polls and --running-polls must be >= 1; "+
			"--product-timeout must be > 0; --job-seconds, --download-bytes-per-sec, --expire-results, --expire-downloads, --drop-submit-replies, --stall-submit-replies and --synthetic-size must be >= 0")
		return 2
	}
	o.JobDuration = time.Duration(*jobSeconds * float64(time.Second))
	o.Datasets, o.RequireLicenceFor = commaList(*datasets), commaList(*licenceFor)
	if *productCommand != "" {
		if err := json.Unmarshal([]byte(*productCommand), &o.ProductCommand); err != nil || len(o.ProductCommand) == 0 || o.ProductCommand[0] == "" {
			fmt.Fprintln(os.Stderr, `ads-stub: --product-command must be a JSON array of strings, the program first, e.g. '["python","-m","jackfruit.synthetic.product_command"]'`)
			return 2
		}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	o.Logger = log
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "ads-stub-")
		if err != nil {
			log.Error("work dir", "err", err)
			return 1
		}
		defer os.RemoveAll(d)
		o.WorkDir = d
	} else if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		log.Error("work dir", "err", err)
		return 1
	}
	srv, err := stub.New(o)
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	ready, _ := json.Marshal(map[string]any{"url": "http://" + ln.Addr().String() + "/api", "pid": os.Getpid()})
	fmt.Println(string(ready))
	log.Info("ready", "addr", ln.Addr().String(), "work_dir", o.WorkDir)

	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	srv.Close() // held submit replies end now: Shutdown waits for active requests
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return 0
}

// commaList splits a comma-separated flag value; empty items are dropped.
func commaList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
