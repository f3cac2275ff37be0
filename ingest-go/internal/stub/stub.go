// Package stub is an in-process ADS retrieve-API server, with fault injection for tests. It serves
// cams-europe-air-quality-forecasts with its built-in GRIB generator, or any process ids whose products a command makes
// (Options.ProductCommand, product.go).
package stub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
)

// Options configure the server. Zero fault fields mean "no fault".
type Options struct {
	APIKey        string // required PRIVATE-TOKEN value
	AcceptedPolls int    // status polls answered "accepted" (min 1)
	RunningPolls  int    // then polls answered "running" (min 1)
	WorkDir       string // where assets are written (must exist)
	BitsPerValue  int    // GRIB packing width, default 16

	FailFirstSubmit      int   // HTTP status returned to the first submit (e.g. 503); no job is created
	RateLimitFirstPoll   int   // seconds: the first job poll gets 429 + Retry-After
	TruncateDownloadOnce int64 // the first download GET is cut after this many body bytes
	IgnoreRange          bool  // download ignores Range (always 200 full body)
	SizeDelta            int64 // added to the advertised file:size (makes the client see a mismatch)
	FailJobs             bool  // jobs end "failed" instead of "successful"
	RequireLicence       bool  // submits get 403 "required licences not accepted"
	// RequireLicenceFor: submits to these process ids get that 403 (RequireLicence: to every one).
	RequireLicenceFor []string
	RelativeHref      bool // results href is relative to the results URL
	// ExpireResults: the first N successful jobs whose results are asked for have their product purged: their
	// results answer 404 "results expired", then and on every later GET: 1 = the first job's results expire, its
	// resubmission's do not; 2 = both expire.
	ExpireResults int
	// ExpireDownloads: the first N download GETs, counted across all jobs, answer 404 (the link
	// expired, or the download node lost the file) while the job's results stay available: 1 = the
	// first link fails and a fresh one works; 2 = the fresh one fails too.
	ExpireDownloads int
	// DropSubmitReplies: the first N submits that create a job get no reply: the connection is closed
	// once the job exists (a reply lost to a time-out or a reset).
	DropSubmitReplies int
	// StallSubmitReplies: the first N submits that create a job hold their reply until the client goes away (or the
	// server closes): the job exists upstream, the client never learns its id. A test waits for the job count to
	// reach N (JobCounts) and kills the client: a deterministic stop between "upstream accepted" and "recorded".
	StallSubmitReplies int
	// SyntheticSize, when > 0, makes every job's asset SyntheticSize deterministic pseudo-random bytes
	// generated while served (not GRIB, nothing on disk, no memory held): for throughput benchmarks.
	SyntheticSize int64

	JobDuration         time.Duration // a job stays accepted/running at least this long (wall time), besides the poll counts
	DownloadBytesPerSec int64         // throttle each download to this rate (0 = unthrottled)
	SubmitDelay         time.Duration // answer each submit after this long (a slow upstream; 0 = at once)

	// Datasets are the process ids served (others: 404); default cams.Dataset alone. Without ProductCommand only
	// cams.Dataset can be served (the built-in generator makes its products).
	Datasets []string
	// ProductCommand, when set, makes every job's product instead of the built-in generator: the argv is run once
	// per job with one JSON line {"dataset": process id, "request": inputs} on stdin; its stdout is the asset; a
	// non-zero exit (or no output) ends the job failed with the command's stderr as the error. The stub then checks
	// no request itself (the command is the upstream's validation): a refusal shows as a failed job.
	ProductCommand []string
	// ProductTimeout bounds one run of the product command (0: DefaultProductTimeout); a command still running
	// then is killed and its job ends failed, naming the timeout (a hung generator never holds a job forever).
	ProductTimeout time.Duration

	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultProductTimeout is Options.ProductTimeout when unset: a full synthetic day of the largest built-in dataset
// takes well under a minute here.
const DefaultProductTimeout = 10 * time.Minute

// processIDRe is a process id the stub can serve: one URL path segment.
var processIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Transition is one status change of a job.
type Transition struct {
	Status string `json:"status"`
	At     string `json:"at"`
}

// AssetInfo describes a generated asset.
type AssetInfo struct {
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Messages int    `json:"messages"`
	GenMS    int64  `json:"generation_ms"`
	path     string
}

// JobView is what GET /_stub/jobs returns per job.
type JobView struct {
	JobID         string         `json:"jobID"`
	ProcessID     string         `json:"processID"`
	Status        string         `json:"status"`
	Inputs        map[string]any `json:"inputs"`
	History       []Transition   `json:"history"`
	Asset         *AssetInfo     `json:"asset,omitempty"`
	SubmitCount   int            `json:"submit_count"` // POST attempts received since the previous job was created, incl. injected failures
	PollCount     int            `json:"poll_count"`
	ResultsCount  int            `json:"results_count"`
	DownloadCount int            `json:"download_count"` // GET (not HEAD) requests on the asset href
}

type job struct {
	JobView
	owner                               string // the PRIVATE-TOKEN that submitted it: GET /jobs lists only the caller's
	req                                 *cams.Request
	created, started, finished, updated time.Time
	failure                             string
	canonical                           string // the inputs as canonical JSON (JobCounts)
	// resultsExpired: the product was purged; its results answer 404 "results expired" from now on.
	resultsExpired bool
	// pinned: a job made by the test control (POST /_stub/jobs) keeps its status whatever the polls.
	pinned bool
	// generating: the product command runs for this job (it stays running until the command ends).
	generating bool
}

// Server is the stub. Handler() serves the API under /api and the downloads under /download.
type Server struct {
	opts Options
	log  *slog.Logger

	mu             sync.Mutex
	jobs           map[string]*job
	order          []string
	pendingSubmits int
	submitFaulted  bool
	pollFaulted    bool
	truncated      bool
	expired        int // results GETs answered "results expired" so far (ExpireResults)
	linksExpired   int // download GETs answered 404 so far (ExpireDownloads)
	dropped        int // submit replies dropped so far (DropSubmitReplies)
	stalled        int // submit replies held so far (StallSubmitReplies)
	closed         chan struct{}
	closeOnce      sync.Once
	ctx            context.Context // ends product commands when the server closes
	cancel         context.CancelFunc
}

// New validates opts and returns a server.
func New(opts Options) (*Server, error) {
	if opts.APIKey == "" {
		return nil, errors.New("stub: API key is required")
	}
	if opts.WorkDir == "" {
		return nil, errors.New("stub: work dir is required")
	}
	opts.AcceptedPolls = max(opts.AcceptedPolls, 1)
	opts.RunningPolls = max(opts.RunningPolls, 1)
	if opts.BitsPerValue == 0 {
		opts.BitsPerValue = 16
	}
	if opts.BitsPerValue < 1 || opts.BitsPerValue > 32 {
		return nil, errors.New("stub: bits per value must be 1..32")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if len(opts.Datasets) == 0 {
		opts.Datasets = []string{cams.Dataset}
	}
	for _, ds := range opts.Datasets {
		if !processIDRe.MatchString(ds) {
			return nil, fmt.Errorf("stub: dataset %q is not a process id (letters, digits, '.', '_', '-'; at most 128)", ds)
		}
		if ds != cams.Dataset && opts.ProductCommand == nil && opts.SyntheticSize == 0 {
			return nil, fmt.Errorf("stub: dataset %q needs a product command (the built-in generator makes %s only)", ds, cams.Dataset)
		}
	}
	if opts.ProductCommand != nil && (len(opts.ProductCommand) == 0 || opts.ProductCommand[0] == "") {
		return nil, errors.New("stub: the product command needs a program")
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{opts: opts, log: opts.Logger, jobs: map[string]*job{}, closed: make(chan struct{}), ctx: ctx, cancel: cancel}, nil
}

// serves tells whether ds is one of the process ids served.
func (s *Server) serves(ds string) bool { return slices.Contains(s.opts.Datasets, ds) }

// licenceRefused tells whether submits to ds are refused for a licence not accepted.
func (s *Server) licenceRefused(ds string) bool {
	return s.opts.RequireLicence || slices.Contains(s.opts.RequireLicenceFor, ds)
}

const apiRoot = "/api"

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := apiRoot + adsapi.ServicePrefix
	mux.Handle("GET "+p+"/processes/{dataset}", s.auth(s.getProcess))
	mux.Handle("POST "+p+"/processes/{dataset}/execution", s.auth(s.submit))
	mux.Handle("GET "+p+"/jobs", s.auth(s.listAccountJobs))
	mux.Handle("GET "+p+"/jobs/{id}", s.auth(s.getJob))
	mux.Handle("DELETE "+p+"/jobs/{id}", s.auth(s.deleteJob))
	mux.Handle("GET "+p+"/jobs/{id}/results", s.auth(s.getResults))
	mux.HandleFunc("GET /download/{id}/{name}", s.download) // no auth: ADS download nodes are public URLs
	mux.HandleFunc("GET /_stub/jobs", s.listJobs)
	mux.HandleFunc("POST /_stub/jobs", s.createJob)
	mux.HandleFunc("POST /_stub/jobs/{id}/expire", s.expireJob)
	mux.HandleFunc("GET /_stub/job-counts", s.jobCounts)
	// The reference client reads service-wide messages at start-up; an empty list keeps it quiet.
	mux.HandleFunc("GET "+apiRoot+"/catalogue/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"messages": []any{}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, adsapi.Problem{Type: "not found", Title: "not found", Detail: r.URL.Path})
	})
	return s.logRequests(mux)
}

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		start := time.Now()
		defer func() {
			// Never log headers: they carry the API key.
			s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds())
		}()
		h.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(c int) { r.status = c; r.ResponseWriter.WriteHeader(c) }

func (s *Server) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("PRIVATE-TOKEN")
		switch {
		case tok == "":
			writeProblem(w, 401, adsapi.Problem{Type: "permission denied", Title: "permission denied", Detail: "authentication required"})
		case tok != s.opts.APIKey:
			writeProblem(w, 401, adsapi.Problem{Type: "permission denied", Title: "Authentication failed", Detail: "operation not allowed"})
		default:
			h(w, r)
		}
	})
}

func (s *Server) getProcess(w http.ResponseWriter, r *http.Request) {
	ds := r.PathValue("dataset")
	if !s.serves(ds) {
		writeProblem(w, 404, noSuchProcess(ds))
		return
	}
	title := ds + " (stub)"
	if ds == cams.Dataset {
		title = "CAMS European air quality forecasts (stub)"
	}
	writeJSON(w, 200, map[string]any{
		"id": ds, "title": title, "version": "1.0.0",
		"jobControlOptions":  []string{"async-execute"},
		"outputTransmission": []string{"reference"},
		"links":              []adsapi.Link{{Href: absURL(r, r.URL.Path), Rel: "self", Type: "application/json"}},
	})
}

func noSuchProcess(ds string) adsapi.Problem {
	return adsapi.Problem{Type: "no-such-process", Title: "process not found", Detail: fmt.Sprintf("process %s not found", ds)}
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if s.opts.SubmitDelay > 0 {
		select {
		case <-time.After(s.opts.SubmitDelay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.pendingSubmits++
	fault := s.opts.FailFirstSubmit != 0 && !s.submitFaulted
	s.submitFaulted = true
	s.mu.Unlock()
	if fault {
		s.log.Warn("fault: failing first submit", "status", s.opts.FailFirstSubmit)
		if s.opts.FailFirstSubmit >= 500 {
			// Proxies answer 5xx with non-JSON bodies; clients must cope.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(s.opts.FailFirstSubmit)
			fmt.Fprintf(w, "<html><body>%d %s</body></html>\n", s.opts.FailFirstSubmit, http.StatusText(s.opts.FailFirstSubmit))
			return
		}
		writeProblem(w, s.opts.FailFirstSubmit, adsapi.Problem{Type: "injected", Title: http.StatusText(s.opts.FailFirstSubmit)})
		return
	}
	ds := r.PathValue("dataset")
	if !s.serves(ds) {
		writeProblem(w, 404, noSuchProcess(ds))
		return
	}
	if s.licenceRefused(ds) {
		writeProblem(w, 403, adsapi.Problem{Type: "permission denied", Title: "required licences not accepted",
			Detail: "Not all the required licences have been accepted; please visit https://ads.atmosphere.copernicus.eu/datasets/" + ds + "?tab=download#manage-licences to accept the required licence(s)."})
		return
	}
	var body struct {
		Inputs map[string]any `json:"inputs"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Inputs == nil {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: "body must be a JSON object with an \"inputs\" object"})
		return
	}
	req, err := s.parseRequest(body.Inputs)
	if err != nil {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: err.Error()})
		return
	}
	j := s.newJob(ds, body.Inputs, req, r.Header.Get("PRIVATE-TOKEN"))
	s.mu.Lock()
	j.SubmitCount = s.pendingSubmits
	s.pendingSubmits = 0
	s.add(j)
	info := s.statusInfo(r, j, false)
	drop := s.dropped < s.opts.DropSubmitReplies
	if drop {
		s.dropped++
	}
	stall := !drop && s.stalled < s.opts.StallSubmitReplies
	if stall {
		s.stalled++
	}
	s.mu.Unlock()
	s.log.Info("job submitted", "job", j.JobID, "dataset", ds, "messages", j.messages())
	if drop {
		s.log.Warn("fault: dropping the submit reply; the job exists", "job", j.JobID)
		panic(http.ErrAbortHandler) // net/http closes the connection: the client gets no reply
	}
	if stall {
		s.log.Warn("fault: holding the submit reply until the client goes away; the job exists", "job", j.JobID)
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	}
	info.Links = []adsapi.Link{
		{Href: absURL(r, r.URL.Path), Rel: "self", Type: "application/json"},
		{Href: s.jobURL(r, j.JobID), Rel: "monitor", Type: "application/json", Title: "job status info"},
	}
	w.Header().Set("Location", s.jobURL(r, j.JobID))
	writeJSON(w, 201, info)
}

func (s *Server) jobURL(r *http.Request, id string) string {
	return absURL(r, apiRoot+adsapi.ServicePrefix+"/jobs/"+id)
}

// statusInfo builds the job object; caller holds s.mu.
func (s *Server) statusInfo(r *http.Request, j *job, withMeta bool) adsapi.StatusInfo {
	info := adsapi.StatusInfo{ProcessID: j.ProcessID, Type: "process", JobID: j.JobID, Status: j.Status,
		Created: adsapi.FormatTime(j.created), Updated: adsapi.FormatTime(j.updated)}
	if !j.started.IsZero() {
		info.Started = adsapi.FormatTime(j.started)
	}
	if !j.finished.IsZero() {
		info.Finished = adsapi.FormatTime(j.finished)
	}
	info.Links = []adsapi.Link{{Href: s.jobURL(r, j.JobID), Rel: "self", Type: "application/json"}}
	if j.Status == adsapi.StatusSuccessful || j.Status == adsapi.StatusFailed {
		info.Links = append(info.Links, adsapi.Link{Href: s.jobURL(r, j.JobID) + "/results", Rel: "results", Type: "application/json"})
	}
	if withMeta {
		info.Metadata = map[string]any{"request": map[string]any{"ids": j.Inputs}}
	}
	return info
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *job {
	id := r.PathValue("id")
	j := s.jobs[id]
	if j == nil || j.Status == adsapi.StatusDismissed {
		what := "not found"
		if j != nil {
			what = "dismissed"
		}
		writeProblem(w, 404, adsapi.Problem{Type: "no-such-job", Title: "job not found", Detail: fmt.Sprintf("job %s %s", id, what)})
		return nil
	}
	return j
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.opts.RateLimitFirstPoll > 0 && !s.pollFaulted {
		s.pollFaulted = true
		s.mu.Unlock()
		n := s.opts.RateLimitFirstPoll
		w.Header().Set("Retry-After", strconv.Itoa(n))
		writeProblem(w, 429, adsapi.Problem{Type: "rate limit exceeded", Title: "rate limit exceeded", Detail: fmt.Sprintf("Rate limit exceeded. Please wait %d seconds.", n)})
		return
	}
	j := s.lookup(w, r)
	if j == nil {
		s.mu.Unlock()
		return
	}
	j.PollCount++
	s.advance(j)
	info := s.statusInfo(r, j, r.URL.Query().Get("request") == "true")
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

// advance moves the job along accepted → running → terminal according to its poll count.
// Generation happens here, under the lock: a stub serving one test at a time gains nothing from
// more concurrency, and this keeps "successful" and "asset exists" atomic.
func (s *Server) advance(j *job) {
	want := adsapi.StatusAccepted
	switch {
	case j.PollCount > s.opts.AcceptedPolls+s.opts.RunningPolls && s.opts.Now().Sub(j.created) >= s.opts.JobDuration:
		want = adsapi.StatusSuccessful
		if s.opts.FailJobs {
			want = adsapi.StatusFailed
		}
	case j.PollCount > s.opts.AcceptedPolls:
		want = adsapi.StatusRunning
	}
	if j.pinned || want == j.Status || j.Status == adsapi.StatusSuccessful || j.Status == adsapi.StatusFailed {
		return
	}
	now := s.opts.Now()
	if want != adsapi.StatusRunning && j.Status == adsapi.StatusAccepted {
		s.setStatus(j, adsapi.StatusRunning, now) // never skip running
	}
	switch want {
	case adsapi.StatusRunning:
		s.setStatus(j, want, now)
	case adsapi.StatusFailed:
		j.failure = "Error: injected failure (--fail-jobs): the adaptor raised an exception while retrieving fields"
		s.setStatus(j, want, now)
	case adsapi.StatusSuccessful:
		if s.byCommand() {
			if !j.generating {
				j.generating = true
				go s.finishByCommand(j)
			}
			return // running until the command ends
		}
		if err := s.generate(j); err != nil {
			s.log.Error("generation failed", "job", j.JobID, "err", err)
			j.failure = "Error: asset generation failed: " + err.Error()
			s.setStatus(j, adsapi.StatusFailed, now)
			return
		}
		s.setStatus(j, want, s.opts.Now())
	}
}

func (s *Server) setStatus(j *job, st string, now time.Time) {
	j.Status = st
	j.updated = now
	if st == adsapi.StatusRunning {
		j.started = now
	}
	if st == adsapi.StatusSuccessful || st == adsapi.StatusFailed {
		j.finished = now
	}
	j.History = append(j.History, Transition{st, adsapi.FormatTime(now)})
	s.log.Info("job status", "job", j.JobID, "status", st)
}

// byCommand tells whether products are made by the product command (SyntheticSize wins: benchmarks).
func (s *Server) byCommand() bool { return s.opts.ProductCommand != nil && s.opts.SyntheticSize == 0 }

// parseRequest checks inputs for the built-in generator; with a product command the command checks them (nil, nil).
func (s *Server) parseRequest(inputs map[string]any) (*cams.Request, error) {
	if s.opts.ProductCommand != nil {
		return nil, nil
	}
	return cams.ParseRequest(inputs)
}

// messages is the number of GRIB messages of the job's product when the built-in generator makes it, else 0.
func (j *job) messages() int {
	if j.req == nil {
		return 0
	}
	return j.req.Messages()
}

// generate makes j's product now: synthetic bytes, the product command's output, or the built-in CAMS generator.
func (s *Server) generate(j *job) error {
	start := time.Now()
	if s.opts.SyntheticSize > 0 {
		j.Asset = &AssetInfo{Size: s.opts.SyntheticSize, GenMS: 0}
		return nil
	}
	if s.byCommand() {
		asset, err := s.commandProduct(j.JobID, j.ProcessID, j.Inputs)
		j.Asset = asset
		return err
	}
	path := filepath.Join(s.opts.WorkDir, j.JobID+".grib")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := cams.Generate(io.MultiWriter(f, h), j.req, s.opts.BitsPerValue)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	el := time.Since(start)
	j.Asset = &AssetInfo{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Messages: j.messages(), GenMS: el.Milliseconds(), path: path}
	s.log.Info("asset generated", "job", j.JobID, "bytes", n, "messages", j.req.Messages(),
		"ms", el.Milliseconds(), "mb_per_s", float64(n)/1e6/max(el.Seconds(), 1e-9))
	return nil
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.lookup(w, r)
	if j == nil {
		s.mu.Unlock()
		return
	}
	s.setStatus(j, adsapi.StatusDismissed, s.opts.Now())
	info := s.statusInfo(r, j, false)
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

func (s *Server) getResults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.lookup(w, r)
	if j == nil {
		s.mu.Unlock()
		return
	}
	j.ResultsCount++
	status, failure, asset := j.Status, j.failure, j.Asset
	if status == adsapi.StatusSuccessful && !j.resultsExpired && s.expired < s.opts.ExpireResults {
		s.expired++
		j.resultsExpired = true // a purged product stays purged
	}
	expire := status == adsapi.StatusSuccessful && j.resultsExpired
	s.mu.Unlock()
	if expire {
		s.log.Warn("fault: results expired", "job", j.JobID)
		writeProblem(w, 404, adsapi.Problem{Type: "results expired", Title: "results expired",
			Detail: fmt.Sprintf("the results of job %s have expired", j.JobID)})
		return
	}
	switch status {
	case adsapi.StatusFailed:
		writeProblem(w, 400, adsapi.Problem{Type: "job results failed", Title: "The job has failed", Detail: "", Traceback: failure})
		return
	case adsapi.StatusSuccessful:
	default:
		writeProblem(w, 404, adsapi.Problem{Type: "result-not-ready", Title: "job results not ready", Detail: fmt.Sprintf("status of %s is '%s'", j.JobID, status)})
		return
	}
	href := "/download/" + j.JobID + "/" + j.JobID + ".grib"
	if s.opts.RelativeHref {
		// keep the host-relative path: clients must resolve it against the results URL
	} else {
		href = absURL(r, href)
	}
	var res adsapi.Results
	checksum := fmt.Sprintf("synthetic-%d", asset.Size)
	if len(asset.SHA256) >= 32 {
		checksum = asset.SHA256[:32]
	}
	res.Asset.Value = adsapi.Asset{Type: "application/x-grib", Href: href, Size: asset.Size + s.opts.SizeDelta, Checksum: checksum}
	writeJSON(w, 200, res)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.jobs[r.PathValue("id")]
	var asset *AssetInfo
	if j != nil && j.Status == adsapi.StatusSuccessful && r.PathValue("name") == j.JobID+".grib" {
		asset = j.Asset
	}
	truncate, gone := false, false
	if asset != nil && r.Method == http.MethodGet && s.linksExpired < s.opts.ExpireDownloads {
		s.linksExpired++
		gone, asset = true, nil
	}
	if asset != nil && r.Method == http.MethodGet {
		j.DownloadCount++
		if s.opts.TruncateDownloadOnce > 0 && !s.truncated {
			s.truncated, truncate = true, true
		}
	}
	s.mu.Unlock()
	if gone {
		s.log.Warn("fault: download link expired", "job", j.JobID)
	}
	if asset == nil {
		writeProblem(w, 404, adsapi.Problem{Type: "not found", Title: "results expired", Detail: "the requested file does not exist"})
		return
	}
	var content io.ReadSeeker
	if asset.path == "" {
		content = io.NewSectionReader(synthetic{asset.Size}, 0, asset.Size)
	} else {
		f, err := os.Open(asset.path)
		if err != nil {
			writeProblem(w, 404, adsapi.Problem{Type: "not found", Title: "results expired", Detail: "the requested file does not exist"})
			return
		}
		defer f.Close()
		content = f
	}
	if s.opts.IgnoreRange {
		r.Header.Del("Range")
	}
	w.Header().Set("Content-Type", "application/x-grib")
	if truncate {
		s.log.Warn("fault: truncating download", "job", j.JobID, "after_bytes", s.opts.TruncateDownloadOnce)
		w = &cutWriter{ResponseWriter: w, left: s.opts.TruncateDownloadOnce}
	}
	if s.opts.DownloadBytesPerSec > 0 {
		w = &slowWriter{ResponseWriter: w, rate: s.opts.DownloadBytesPerSec, start: time.Now(), done: r.Context().Done()}
	}
	http.ServeContent(w, r, "", time.Time{}, content)
}

// cutWriter aborts the connection after left body bytes, simulating a dropped download.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left = 0
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		_ = n
		panic(http.ErrAbortHandler) // net/http closes the connection without a clean end of body
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// slowWriter paces the body to rate bytes/s, flushing every chunk so the client sees progress.
type slowWriter struct {
	http.ResponseWriter
	rate  int64
	start time.Time
	sent  int64
	done  <-chan struct{}
}

func (sw *slowWriter) Write(p []byte) (int, error) {
	chunk := int(max(sw.rate/20, 1)) // ~20 writes per second
	written := 0
	for len(p) > 0 {
		k := min(chunk, len(p))
		n, err := sw.ResponseWriter.Write(p[:k])
		written += n
		sw.sent += int64(n)
		if err != nil {
			return written, err
		}
		if f, ok := sw.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[k:]
		due := time.Duration(float64(sw.sent) / float64(sw.rate) * float64(time.Second))
		if wait := due - time.Since(sw.start); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-sw.done:
				t.Stop()
				return written, http.ErrAbortHandler
			}
		}
	}
	return written, nil
}

// listAccountJobs is GET /jobs (ads-api.md §2 item 9): the caller's jobs, newest first, at most limit
// (default 10, 1..100); request=true adds metadata.request.ids (the inputs each job was submitted with).
// Only sortby=-created (the default) is supported; one page, no rel=next link.
func (s *Server) listAccountJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: fmt.Sprintf("limit must be 1..100, not %q", v)})
			return
		}
		limit = n
	}
	if v := q.Get("sortby"); v != "" && v != "-created" {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: fmt.Sprintf("the stub sorts by -created only, not %q", v)})
		return
	}
	owner, withMeta := r.Header.Get("PRIVATE-TOKEN"), q.Get("request") == "true"
	s.mu.Lock()
	list := adsapi.JobList{Jobs: []adsapi.StatusInfo{}}
	for i := len(s.order) - 1; i >= 0 && len(list.Jobs) < limit; i-- {
		j := s.jobs[s.order[i]]
		if j.owner != owner {
			continue
		}
		list.Jobs = append(list.Jobs, s.statusInfo(r, j, withMeta))
	}
	s.mu.Unlock()
	list.Links = []adsapi.Link{{Href: absURL(r, r.URL.RequestURI()), Rel: "self", Type: "application/json"}}
	writeJSON(w, 200, list)
}

// Jobs returns a snapshot of all jobs in submission order.
func (s *Server) Jobs() []JobView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobView, 0, len(s.order))
	for _, id := range s.order {
		v := s.jobs[id].JobView
		v.History = append([]Transition(nil), v.History...)
		if v.Asset != nil {
			a := *v.Asset
			v.Asset = &a
		}
		out = append(out, v)
	}
	return out
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.Jobs())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, p adsapi.Problem) {
	p.Status = status
	p.TraceID = newUUID4()
	writeJSON(w, status, p)
}

// absURL makes an absolute URL on the host the client used, so hrefs work behind any loopback port.
func absURL(r *http.Request, path string) string {
	return "http://" + r.Host + path
}

func newUUID4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// synthBlockSize is the period of a synthetic asset.
const synthBlockSize = 1 << 20

// synthBlock is 1 MiB of fixed pseudo-random bytes: a synthetic asset repeats it, the first 8 bytes of each
// copy replaced by the copy's index (big-endian), so a byte misplaced by a wrong Range shows in the hash.
var synthBlock = func() []byte {
	b := make([]byte, synthBlockSize)
	_, _ = mrand.NewChaCha8([32]byte{'j', 'a', 'c', 'k', 'f', 'r', 'u', 'i', 't'}).Read(b)
	return b
}()

// synthetic is a deterministic asset of size bytes, generated on read (io.ReaderAt; no state, no memory).
type synthetic struct{ size int64 }

func (s synthetic) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("synthetic: negative offset")
	}
	n := 0
	for n < len(p) && off < s.size {
		blk, in := off/synthBlockSize, off%synthBlockSize
		k := copy(p[n:], synthBlock[in:min(synthBlockSize, in+(s.size-off))])
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(blk))
		for i := in; i < 8 && i < in+int64(k); i++ {
			p[n+int(i-in)] = hdr[i]
		}
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
