// Package ingest retrieves one ADS job result and commits it, verified, to a write-once sink.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// Version is sent in the User-Agent.
const Version = "0.1.0"

// Config is one ingestion.
type Config struct {
	BaseURL       string          // API root, e.g. https://ads.atmosphere.copernicus.eu/api
	ProcessID     string          // the ADS process id (the upstream dataset) of every call; not jackfruit's dataset name
	Key           string          // validated sink key
	APIKey        string          // PRIVATE-TOKEN; never logged
	Inputs        json.RawMessage // JSON object of ADS inputs
	Sink          sink.Sink
	Timeout       time.Duration
	PollInitial   time.Duration
	PollMax       time.Duration
	MaxTries      int
	RetryAfterMax time.Duration
	// QueueDeadline, when > 0, bounds how long a job may stay "accepted" (queued upstream) while this
	// process follows it: past it the run gives up with KindUnavailable and leaves the job upstream.
	QueueDeadline time.Duration
	UserAgent     string
	HTTPClient    *http.Client
	Logger        *slog.Logger
	// ResumeJobID, when set, skips the submit: the run polls this ADS job and continues from there,
	// adopting an object already at Key (after checking its size against the job's file:size).
	ResumeJobID string
	// OnEvent, when set, receives progress events synchronously, in order.
	OnEvent func(Event)
	// Sleep replaces real waiting (tests record delays instead of sleeping).
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// Timings are wall-clock phase durations in milliseconds.
type Timings struct {
	Submit   int64 `json:"submit"`
	Wait     int64 `json:"wait"`
	Download int64 `json:"download"`
	Total    int64 `json:"total"`
}

// Manifest is the single stdout line printed on success.
type Manifest struct {
	Key         string  `json:"key"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	ContentType string  `json:"content_type"`
	ADSJobID    string  `json:"ads_job_id"`
	ADSFileSize int64   `json:"ads_file_size"`
	SubmittedAt string  `json:"submitted_at"`
	FinishedAt  string  `json:"finished_at"`
	TimingsMS   Timings `json:"timings_ms"`
	Polls       int     `json:"polls"`
	Retries     int     `json:"retries"`
	Resumes     int     `json:"resumes"`
	// Adopted: the object was already at Key (an earlier attempt of the same run committed it) and
	// was verified against the resumed job's file:size instead of being downloaded again.
	Adopted bool `json:"adopted"`
}

// Event types and phases (stdout protocol, README.md).
const (
	EventPhase     = "phase"
	EventSubmitted = "submitted"

	PhaseSubmit   = "submit"
	PhasePoll     = "poll"
	PhaseDownload = "download"
	PhaseCommit   = "commit"
	PhaseAdopt    = "adopt"

	// StatusResumed is the status of the submitted event of a --resume-job run.
	StatusResumed = "resumed"
)

// Event is one progress line; the final stdout line is the Manifest or the error.
type Event struct {
	Event    string `json:"event"`
	Phase    string `json:"phase,omitempty"`
	ADSJobID string `json:"ads_job_id,omitempty"`
	Status   string `json:"status,omitempty"`
	// Replaces, on a submitted event, names the job whose results expired and which this new job replaces.
	Replaces string `json:"replaces,omitempty"`
}

type run struct {
	cfg     Config
	log     *slog.Logger
	httpc   *http.Client
	retries int
	polls   int
	resumes int
	jobID   string
	// replaced is the job whose results expired and which this run submitted again ("" until then).
	replaced string
	// followed holds every job this run has followed: never adopted as the job of a lost submit reply.
	followed map[string]bool
}

// Run performs pre-flight, submit, poll, results, download and commit.
func Run(parent context.Context, cfg Config) (*Manifest, error) {
	r := newRun(cfg)
	ctx, cancel := r.deadline(parent)
	defer cancel()
	m, err := r.run(ctx)
	if err != nil {
		e := AsError(err)
		if e.JobID == "" {
			e.JobID = r.jobID
		}
		return nil, e
	}
	return m, nil
}

// newRun fills cfg's defaults; the one set-up of every mode (ingest, find-job, job-status).
func newRun(cfg Config) *run {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "jackfruit-ingest/" + Version
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 60 * time.Second,
			TLSHandshakeTimeout: 15 * time.Second, MaxIdleConnsPerHost: 4,
		}}
	}
	cfg.MaxTries = max(cfg.MaxTries, 1)
	if cfg.PollInitial <= 0 {
		cfg.PollInitial = time.Second
	}
	if cfg.PollMax < cfg.PollInitial {
		cfg.PollMax = cfg.PollInitial
	}
	if cfg.RetryAfterMax <= 0 {
		cfg.RetryAfterMax = 120 * time.Second
	}
	log := cfg.Logger.With("process_id", cfg.ProcessID)
	if cfg.Key != "" {
		log = log.With("key", cfg.Key)
	}
	return &run{cfg: cfg, log: log, httpc: cfg.HTTPClient, followed: map[string]bool{}}
}

// deadline bounds ctx by cfg.Timeout (exceeded: KindUnavailable, see ctxErr).
func (r *run) deadline(parent context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.Timeout > 0 {
		return context.WithTimeoutCause(parent, r.cfg.Timeout, errTimeout)
	}
	return context.WithCancel(parent)
}

func (r *run) run(ctx context.Context) (*Manifest, error) {
	t0 := r.cfg.Now()
	resuming := r.cfg.ResumeJobID != ""
	// Everything local is checked before the first HTTP call: a sink we cannot write would
	// otherwise cost the ADS a whole job for nothing.
	if err := r.probeSink(ctx); err != nil {
		return nil, err
	}
	exists, err := r.cfg.Sink.Exists(ctx, r.cfg.Key)
	if err != nil {
		return nil, errorf(KindInternal, "sink pre-flight: %v", err)
	}
	if exists && !resuming {
		// Checked before submitting so a re-run costs the ADS nothing.
		return nil, errorf(KindConflict, "object %s already exists in the sink; nothing submitted", r.cfg.Key)
	}

	root := r.root()
	var monitor string
	if resuming {
		r.jobID = r.cfg.ResumeJobID
		r.followed[r.jobID] = true
		monitor = root + "/jobs/" + url.PathEscape(r.jobID)
		r.log.Info("resuming job", "ads_job_id", r.jobID, "object_exists", exists)
		r.emit(Event{Event: EventSubmitted, ADSJobID: r.jobID, Status: StatusResumed})
	} else {
		if monitor, err = r.submit(ctx, root, ""); err != nil {
			return nil, err
		}
	}
	submittedAt := r.cfg.Now()

	resp, err := r.awaitResults(ctx, root, &monitor)
	if err != nil {
		return nil, err
	}
	tWait := r.cfg.Now()
	for relinked := false; ; relinked = true {
		if resp.status != 200 {
			return nil, r.withJob(refused("results", resp))
		}
		var res adsapi.Results
		if err := json.Unmarshal(resp.body, &res); err != nil || res.Asset.Value.Href == "" || res.Asset.Value.Size < 0 {
			return nil, r.withJob(errorf(KindUnavailable, "results: malformed asset description"))
		}
		asset := res.Asset.Value
		href := resolve(resp.url, asset.Href)
		m := &Manifest{
			Key: r.cfg.Key, ContentType: asset.Type, ADSJobID: r.jobID, ADSFileSize: asset.Size,
			SubmittedAt: submittedAt.UTC().Format(time.RFC3339),
		}
		finish := func() *Manifest {
			tEnd := r.cfg.Now()
			m.FinishedAt = tEnd.UTC().Format(time.RFC3339)
			m.TimingsMS = Timings{
				Submit: submittedAt.Sub(t0).Milliseconds(), Wait: tWait.Sub(submittedAt).Milliseconds(),
				Download: tEnd.Sub(tWait).Milliseconds(), Total: tEnd.Sub(t0).Milliseconds(),
			}
			m.Polls, m.Retries, m.Resumes = r.polls, r.retries, r.resumes
			return m
		}

		if resuming {
			// An earlier attempt of this run may have committed before it died: adopt, never overwrite.
			if exists, err = r.cfg.Sink.Exists(ctx, r.cfg.Key); err != nil {
				return nil, r.withJob(errorf(KindInternal, "sink: %v", err))
			}
			if exists {
				if err := r.adopt(ctx, m, ""); err != nil {
					return nil, r.withJob(err)
				}
				return finish(), nil
			}
		}

		r.emit(Event{Event: EventPhase, Phase: PhaseDownload})
		size, sum, err := r.download(ctx, href, asset.Size)
		var gone *linkGone
		if errors.As(err, &gone) {
			if relinked {
				e := errorf(KindExpired, "the download link of job %s answered HTTP %d%s again after the results were fetched anew; giving up",
					r.jobID, gone.status, problemSuffix(gone.body))
				e.HTTPStatus = gone.status
				return nil, r.withJob(e)
			}
			// The link expired, or the download node lost the file: the results give a fresh link (or
			// say the results expired, and the job is submitted again, once).
			r.log.Warn("download link gone; fetching the job's results again", "ads_job_id", r.jobID,
				"http_status", gone.status)
			if resp, err = r.awaitResults(ctx, root, &monitor); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			e := AsError(err)
			if resuming && e.Kind == KindConflict && sum != "" {
				// The object appeared during our download (a concurrent attempt of the same run).
				r.log.Warn("object appeared during the download of a resumed job; adopting it", "ads_job_id", r.jobID)
				if err := r.adopt(ctx, m, sum); err != nil {
					return nil, r.withJob(err)
				}
				return finish(), nil
			}
			return nil, r.withJob(e)
		}
		m.Size, m.SHA256 = size, sum
		r.log.Info("committed", "ads_job_id", r.jobID, "bytes", size, "sha256", sum)
		return finish(), nil
	}
}

// awaitResults polls the job at *monitor until it ends, then GETs its results. Results that expired
// upstream (404 "results expired") make it submit the same request again, once per run (the new job
// replaces the old one: *monitor and r.jobID follow it); a second expiry is KindExpired.
func (r *run) awaitResults(ctx context.Context, root string, monitor *string) (*response, error) {
	for {
		r.emit(Event{Event: EventPhase, Phase: PhasePoll})
		final, err := r.poll(ctx, *monitor)
		if err != nil {
			return nil, err
		}
		resultsURL := final.LinkHref("results")
		if resultsURL == "" {
			resultsURL = *monitor + "/results"
		}
		resp, err := r.call(ctx, "results", http.MethodGet, resolve(*monitor, resultsURL), nil)
		if err != nil {
			return nil, err
		}
		if resp.status != 404 || !resultsExpired(resp.body) {
			return resp, nil
		}
		if r.replaced != "" {
			e := errorf(KindExpired, "the results of job %s expired upstream (HTTP 404%s), and so had those of job %s it replaced; giving up",
				r.jobID, problemSuffix(resp.body), r.replaced)
			e.HTTPStatus = 404
			return nil, r.withJob(e)
		}
		// The ADS purged the product from its cache: the same request, submitted again, makes it anew.
		r.replaced = r.jobID
		r.log.Warn("results expired upstream; submitting the same request again (once)", "ads_job_id", r.replaced)
		if *monitor, err = r.submit(ctx, root, r.replaced); err != nil {
			return nil, err
		}
	}
}

// linkGone is a download that the download node refused with 403, 404 or 410 before sending the
// file: the link expired or the file is gone from that node (ads-api.md §6: hrefs point at a randomly
// chosen node and may differ between calls). The caller fetches the results again for a new link.
type linkGone struct {
	status int
	body   []byte
}

func (g *linkGone) Error() string { return fmt.Sprintf("download link answered HTTP %d", g.status) }

// submit POSTs the request and returns the job's monitor URL; replaces names the job whose results expired
// (announced in the submitted event). A submit whose reply is lost (transport error, 408, 5xx: the ADS may have
// created the job) is not blindly repeated: the account's recent jobs are searched first (findLostSubmit).
func (r *run) submit(ctx context.Context, root, replaces string) (string, error) {
	submitURL := root + "/processes/" + url.PathEscape(r.cfg.ProcessID) + "/execution"
	body, err := json.Marshal(map[string]json.RawMessage{"inputs": r.cfg.Inputs})
	if err != nil {
		return "", errorf(KindUsage, "request: %v", err)
	}
	r.emit(Event{Event: EventPhase, Phase: PhaseSubmit})
	r.log.Info("submitting", "url", submitURL)
	started := r.cfg.Now()
	var resp *response
	for attempt := 1; ; attempt++ {
		got, why, retryAfter, err := r.attempt(ctx, "submit", http.MethodPost, submitURL, body)
		if err != nil {
			return "", err
		}
		if why == "" {
			resp = got
			break
		}
		// Only a 429 proves the request was turned away before a job could exist.
		lost := got == nil || got.status != http.StatusTooManyRequests
		giveUp := func() error {
			e := errorf(KindUnavailable, "submit failed after %d tries: %s", attempt, why)
			if got != nil {
				e.HTTPStatus = got.status
			}
			return e
		}
		if attempt >= r.cfg.MaxTries && !lost {
			return "", giveUp()
		}
		delay := r.retryDelay(attempt, retryAfter)
		attrs := []any{"op", "submit", "attempt", attempt, "reason", why, "delay_ms", delay.Milliseconds()}
		if lost {
			attrs = append(attrs, "note", "the submit may have reached the ADS: its recent jobs are searched before submitting again")
		}
		r.log.Warn("submit failed", attrs...)
		// Waiting first also gives the ADS time to list a job the lost reply was about.
		if err := r.sleep(ctx, delay); err != nil {
			return "", r.ctxErr(ctx)
		}
		if lost {
			job, err := r.findLostSubmit(ctx, root, started)
			if err != nil {
				return "", err
			}
			if job != nil {
				r.log.Warn("adopting the job a lost submit reply created", "ads_job_id", job.JobID, "created", job.Created)
				return r.accepted(job, root, root+"/jobs/"+url.PathEscape(job.JobID), replaces), nil
			}
		}
		if attempt >= r.cfg.MaxTries {
			return "", giveUp()
		}
		r.retries++
	}
	if resp.status != 201 && resp.status != 200 {
		return "", refused("submit", resp)
	}
	var job adsapi.StatusInfo
	if err := json.Unmarshal(resp.body, &job); err != nil || job.JobID == "" {
		return "", errorf(KindUnavailable, "submit: unexpected response body (no jobID)")
	}
	return r.accepted(&job, root, resp.url, replaces), nil
}

// accepted makes job the run's job, announces it and returns its monitor URL (resolved against base).
func (r *run) accepted(job *adsapi.StatusInfo, root, base, replaces string) string {
	r.jobID = job.JobID
	r.followed[job.JobID] = true
	// First thing after the answer: whoever runs us must be able to resume this job if we die.
	r.emit(Event{Event: EventSubmitted, ADSJobID: job.JobID, Status: job.Status, Replaces: replaces})
	r.log.Info("submitted", "ads_job_id", job.JobID, "status", job.Status, "replaces", replaces)
	monitor := job.LinkHref("monitor")
	if monitor == "" {
		monitor = root + "/jobs/" + url.PathEscape(job.JobID)
	}
	return resolve(base, monitor)
}

// probeSink stages and discards a small upload, proving the sink is writable before any HTTP call.
func (r *run) probeSink(ctx context.Context) error {
	u, err := r.cfg.Sink.Create(ctx, r.cfg.Key)
	if err != nil {
		return errorf(KindUnavailable, "the raw sink is not writable (nothing submitted): %v", err)
	}
	if _, err := u.Write([]byte("jackfruit-ingest write probe\n")); err != nil {
		u.Abort()
		return errorf(KindUnavailable, "the raw sink is not writable (nothing submitted): %v", err)
	}
	if err := u.Abort(); err != nil {
		return errorf(KindUnavailable, "the raw sink is not writable (cannot remove a staged upload; nothing submitted): %v", err)
	}
	return nil
}

// adopt verifies the object already at the key against the job's file:size (and, when this process
// downloaded the product too, its SHA-256) and fills m from it. Nothing is written.
func (r *run) adopt(ctx context.Context, m *Manifest, downloaded string) *Error {
	r.emit(Event{Event: EventPhase, Phase: PhaseAdopt})
	rc, size, err := r.cfg.Sink.Open(ctx, r.cfg.Key)
	if err != nil {
		return errorf(KindInternal, "adopt: open %s: %v", r.cfg.Key, err)
	}
	defer rc.Close()
	if size != m.ADSFileSize {
		return errorf(KindIntegrity, "object %s already in the sink holds %d bytes but job %s's file:size is %d; not adopted, nothing changed",
			r.cfg.Key, size, r.jobID, m.ADSFileSize)
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, rc})
	if err != nil {
		if cerr := r.ctxErr(ctx); cerr != nil {
			return AsError(cerr)
		}
		return errorf(KindInternal, "adopt: read %s: %v", r.cfg.Key, err)
	}
	if n != size {
		return errorf(KindIntegrity, "object %s changed while it was verified (%d of %d bytes); not adopted", r.cfg.Key, n, size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if downloaded != "" && sum != downloaded {
		return errorf(KindIntegrity, "object %s already in the sink differs from job %s's product (sha256 %s, downloaded %s); not adopted, nothing changed",
			r.cfg.Key, r.jobID, sum, downloaded)
	}
	m.Size, m.SHA256, m.Adopted = size, sum, true
	r.log.Info("adopted", "ads_job_id", r.jobID, "bytes", size, "sha256", sum)
	return nil
}

// ctxReader stops a long local read when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (r *run) emit(e Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

func (r *run) withJob(e *Error) *Error {
	e.JobID = r.jobID
	return e
}

// poll follows the monitor link until the job is successful (ads-api.md §2.5, §4).
func (r *run) poll(ctx context.Context, monitor string) (*adsapi.StatusInfo, error) {
	delay := r.cfg.PollInitial
	last := ""
	queuedSince := r.cfg.Now()
	for {
		resp, err := r.call(ctx, "poll", http.MethodGet, monitor, nil)
		if err != nil {
			return nil, err
		}
		r.polls++
		if resp.status == 404 {
			what := "disappeared while polling"
			if r.cfg.ResumeJobID != "" && r.polls == 1 {
				what = "to resume was not found upstream"
			}
			e := errorf(KindJobFailed, "job %s %s (HTTP 404)%s", r.jobID, what, problemSuffix(resp.body))
			e.HTTPStatus = 404
			return nil, r.withJob(e)
		}
		if resp.status != 200 {
			return nil, r.withJob(refused("poll", resp))
		}
		var st adsapi.StatusInfo
		if err := json.Unmarshal(resp.body, &st); err != nil {
			return nil, r.withJob(errorf(KindUnavailable, "poll: malformed job status"))
		}
		if st.Status != last {
			r.log.Info("job status", "ads_job_id", r.jobID, "status", st.Status)
			last = st.Status
		}
		switch st.Status {
		case adsapi.StatusSuccessful:
			return &st, nil
		case adsapi.StatusAccepted:
			if d := r.cfg.QueueDeadline; d > 0 && r.cfg.Now().Sub(queuedSince) >= d {
				e := errorf(KindUnavailable, "job %s still queued (accepted) upstream after %s (--queue-deadline); it is left there: resume it later with --resume-job", r.jobID, d)
				return nil, r.withJob(e)
			}
		case adsapi.StatusRunning:
		case adsapi.StatusFailed, adsapi.StatusRejected:
			return nil, r.withJob(r.jobFailure(ctx, monitor, &st))
		case adsapi.StatusDismissed, adsapi.StatusDeleted:
			return nil, r.withJob(errorf(KindJobFailed, "job %s was %s upstream", r.jobID, st.Status))
		default:
			return nil, r.withJob(errorf(KindJobFailed, "job %s has unknown status %q", r.jobID, st.Status))
		}
		if err := r.sleep(ctx, delay); err != nil {
			return nil, r.ctxErr(ctx)
		}
		delay = min(time.Duration(float64(delay)*1.5), r.cfg.PollMax)
	}
}

// jobFailure fetches the results document, whose 400 problem carries the user-visible traceback.
func (r *run) jobFailure(ctx context.Context, monitor string, st *adsapi.StatusInfo) *Error {
	u := st.LinkHref("results")
	if u == "" {
		u = monitor + "/results"
	}
	msg := "job " + r.jobID + " " + st.Status
	resp, err := r.call(ctx, "results", http.MethodGet, resolve(monitor, u), nil)
	if err == nil && resp.status >= 400 {
		msg += problemSuffix(resp.body)
	} else if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindCancelled {
			return e
		}
	}
	return errorf(KindJobFailed, "%s", msg)
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	u, err := b.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}
