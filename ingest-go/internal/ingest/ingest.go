// Package ingest retrieves one ADS job result and commits it, verified, to a write-once sink.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// Version is sent in the User-Agent.
const Version = "0.1.0"

// Config is one ingestion.
type Config struct {
	BaseURL       string          // API root, e.g. https://ads.atmosphere.copernicus.eu/api
	Dataset       string          // process id
	Key           string          // validated sink key
	APIKey        string          // PRIVATE-TOKEN; never logged
	Inputs        json.RawMessage // JSON object of ADS inputs
	Sink          sink.Sink
	Timeout       time.Duration
	PollInitial   time.Duration
	PollMax       time.Duration
	MaxTries      int
	RetryAfterMax time.Duration
	UserAgent     string
	HTTPClient    *http.Client
	Logger        *slog.Logger
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
}

type run struct {
	cfg     Config
	log     *slog.Logger
	httpc   *http.Client
	retries int
	polls   int
	resumes int
	jobID   string
}

// Run performs pre-flight, submit, poll, results, download and commit.
func Run(parent context.Context, cfg Config) (*Manifest, error) {
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
	r := &run{cfg: cfg, log: cfg.Logger.With("key", cfg.Key, "dataset", cfg.Dataset), httpc: cfg.HTTPClient}
	ctx := parent
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(parent, cfg.Timeout, errTimeout)
		defer cancel()
	}
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

func (r *run) run(ctx context.Context) (*Manifest, error) {
	t0 := r.cfg.Now()
	exists, err := r.cfg.Sink.Exists(ctx, r.cfg.Key)
	if err != nil {
		return nil, errorf(KindInternal, "sink pre-flight: %v", err)
	}
	if exists {
		// Checked before submitting so a re-run costs the ADS nothing.
		return nil, errorf(KindConflict, "object %s already exists in the sink; nothing submitted", r.cfg.Key)
	}

	root := strings.TrimRight(r.cfg.BaseURL, "/") + adsapi.ServicePrefix
	submitURL := root + "/processes/" + url.PathEscape(r.cfg.Dataset) + "/execution"
	body, err := json.Marshal(map[string]json.RawMessage{"inputs": r.cfg.Inputs})
	if err != nil {
		return nil, errorf(KindUsage, "request: %v", err)
	}
	r.log.Info("submitting", "url", submitURL)
	resp, err := r.call(ctx, "submit", http.MethodPost, submitURL, body)
	if err != nil {
		return nil, err
	}
	if resp.status != 201 && resp.status != 200 {
		return nil, refused("submit", resp)
	}
	var job adsapi.StatusInfo
	if err := json.Unmarshal(resp.body, &job); err != nil || job.JobID == "" {
		return nil, errorf(KindUnavailable, "submit: unexpected response body (no jobID)")
	}
	r.jobID = job.JobID
	submittedAt := r.cfg.Now()
	r.log.Info("submitted", "ads_job_id", job.JobID, "status", job.Status)
	monitor := job.LinkHref("monitor")
	if monitor == "" {
		monitor = root + "/jobs/" + url.PathEscape(job.JobID)
	}
	monitor = resolve(resp.url, monitor)

	final, err := r.poll(ctx, monitor)
	if err != nil {
		return nil, err
	}
	tWait := r.cfg.Now()

	resultsURL := final.LinkHref("results")
	if resultsURL == "" {
		resultsURL = monitor + "/results"
	}
	resultsURL = resolve(monitor, resultsURL)
	resp, err = r.call(ctx, "results", http.MethodGet, resultsURL, nil)
	if err != nil {
		return nil, err
	}
	if resp.status != 200 {
		return nil, r.withJob(refused("results", resp))
	}
	var res adsapi.Results
	if err := json.Unmarshal(resp.body, &res); err != nil || res.Asset.Value.Href == "" || res.Asset.Value.Size < 0 {
		return nil, r.withJob(errorf(KindUnavailable, "results: malformed asset description"))
	}
	asset := res.Asset.Value
	href := resolve(resp.url, asset.Href)

	size, sum, err := r.download(ctx, href, asset.Size)
	if err != nil {
		return nil, r.withJob(AsError(err))
	}
	tEnd := r.cfg.Now()
	m := &Manifest{
		Key: r.cfg.Key, Size: size, SHA256: sum, ContentType: asset.Type,
		ADSJobID: job.JobID, ADSFileSize: asset.Size,
		SubmittedAt: submittedAt.UTC().Format(time.RFC3339), FinishedAt: tEnd.UTC().Format(time.RFC3339),
		TimingsMS: Timings{
			Submit: submittedAt.Sub(t0).Milliseconds(), Wait: tWait.Sub(submittedAt).Milliseconds(),
			Download: tEnd.Sub(tWait).Milliseconds(), Total: tEnd.Sub(t0).Milliseconds(),
		},
		Polls: r.polls, Retries: r.retries, Resumes: r.resumes,
	}
	r.log.Info("committed", "ads_job_id", job.JobID, "bytes", size, "sha256", sum)
	return m, nil
}

func (r *run) withJob(e *Error) *Error {
	e.JobID = r.jobID
	return e
}

// poll follows the monitor link until the job is successful (ads-api.md §2.5, §4).
func (r *run) poll(ctx context.Context, monitor string) (*adsapi.StatusInfo, error) {
	delay := r.cfg.PollInitial
	last := ""
	for {
		resp, err := r.call(ctx, "poll", http.MethodGet, monitor, nil)
		if err != nil {
			return nil, err
		}
		r.polls++
		if resp.status == 404 {
			e := errorf(KindJobFailed, "job %s disappeared while polling (HTTP 404)%s", r.jobID, problemSuffix(resp.body))
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
		case adsapi.StatusAccepted, adsapi.StatusRunning:
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
