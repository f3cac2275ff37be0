package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
)

// Upstream job states as the find-job and job-status modes answer them (docs/ingester-protocol.md §7). A job in
// one of the first three is held: following it (--resume-job) yields its product without a new job.
const (
	JobQueued     = "queued"     // ADS "accepted"
	JobRunning    = "running"    // ADS "running"
	JobSuccessful = "successful" // ADS "successful", and its results are still there
	JobFailed     = "failed"     // ADS "failed" or "rejected"
	JobExpired    = "expired"    // ADS "successful", but its results expired (404 "results expired")
	JobUnknown    = "unknown"    // the ADS does not know the job (404, dismissed, deleted, another dataset) or its status
)

// JobAnswer is the result line of the find-job and job-status modes: {"job": JobAnswer} (or {"job": null}).
type JobAnswer struct {
	JobID  string `json:"ads_job_id"`
	Status string `json:"status"`
	// Held: the upstream still holds the job (queued, running, or successful with its results not expired).
	Held bool `json:"held"`
	// ADSStatus is the status the ADS gave ("" when it does not know the job).
	ADSStatus string `json:"ads_status,omitempty"`
	Created   string `json:"created,omitempty"`
}

// Held tells whether a job in this state can still be followed without a new upstream job.
func Held(status string) bool {
	return status == JobQueued || status == JobRunning || status == JobSuccessful
}

func answer(j *adsapi.StatusInfo, status string) *JobAnswer {
	return &JobAnswer{JobID: j.JobID, Status: status, Held: Held(status), ADSStatus: j.Status, Created: j.Created}
}

// FindJob answers the upstream's job for cfg's request: among the account's newest jobs (one page, as the lost-submit
// search) those of cfg.ProcessID submitted with cfg.Inputs (jobsOfRequest, the same matching), the newest held one, else
// the newest one; nil when none matches. Jobs the ADS would answer unknown (dismissed, deleted, gone, an unknown
// status) are skipped: the answer is never JobUnknown. Nothing is submitted. Errors: the listing refused (KindAuth for 401/403,
// else classified as any refusal) or unavailable after the retries, or a job's results refused.
func FindJob(parent context.Context, cfg Config) (*JobAnswer, error) {
	r := newRun(cfg)
	ctx, cancel := r.deadline(parent)
	defer cancel()
	root := r.root()
	list, resp, err := r.listJobs(ctx, root)
	if err != nil {
		return nil, err
	}
	if list == nil {
		if resp.status == 200 {
			return nil, errorf(KindUnavailable, "list jobs: unreadable answer")
		}
		return nil, refused("list jobs", resp)
	}
	found, err := r.jobsOfRequest(ctx, root, list, func(j *adsapi.StatusInfo) bool {
		return j.Status != adsapi.StatusDismissed && j.Status != adsapi.StatusDeleted
	})
	if err != nil {
		return nil, err
	}
	var newest *JobAnswer
	for _, j := range found {
		status, err := r.state(ctx, root, j)
		if err != nil {
			return nil, err
		}
		if status == JobUnknown { // gone (its results 404) or a status this version does not know: no candidate
			continue
		}
		a := answer(j, status)
		if a.Held {
			r.log.Info("found the request's job", "ads_job_id", j.JobID, "status", status, "matching", len(found))
			return a, nil
		}
		if newest == nil {
			newest = a
		}
	}
	r.log.Info("no held job of this request upstream", "matching", len(found), "jobs_listed", len(list.Jobs))
	return newest, nil
}

// JobStatus answers the state of job jobID: GET /jobs/{id} (and, for a successful job, its results, to tell an
// expired product). A job the ADS does not know (404), a dismissed or deleted one, or one of another dataset than
// cfg.ProcessID is JobUnknown. Nothing is submitted. Errors: refusals (401/403: KindAuth) and unavailability.
func JobStatus(parent context.Context, cfg Config, jobID string) (*JobAnswer, error) {
	r := newRun(cfg)
	ctx, cancel := r.deadline(parent)
	defer cancel()
	root := r.root()
	resp, err := r.call(ctx, "job status", http.MethodGet, root+"/jobs/"+url.PathEscape(jobID), nil)
	if err != nil {
		return nil, withJobID(err, jobID)
	}
	if resp.status == 404 {
		return &JobAnswer{JobID: jobID, Status: JobUnknown}, nil
	}
	if resp.status != 200 {
		return nil, withJobID(refused("job status", resp), jobID)
	}
	var st adsapi.StatusInfo
	if err := json.Unmarshal(resp.body, &st); err != nil {
		return nil, withJobID(errorf(KindUnavailable, "job status: malformed job object"), jobID)
	}
	st.JobID = jobID
	if st.ProcessID != "" && st.ProcessID != cfg.ProcessID {
		r.log.Warn("the job belongs to another dataset", "ads_job_id", jobID, "process_id", st.ProcessID)
		return answer(&st, JobUnknown), nil
	}
	status, err := r.state(ctx, root, &st)
	if err != nil {
		return nil, withJobID(err, jobID)
	}
	return answer(&st, status), nil
}

// state maps an ADS job object to a JobAnswer status; a successful job's results are fetched to tell an expired
// product from a held one (the ADS lists a purged job as "successful" still).
func (r *run) state(ctx context.Context, root string, j *adsapi.StatusInfo) (string, error) {
	switch j.Status {
	case adsapi.StatusAccepted:
		return JobQueued, nil
	case adsapi.StatusRunning:
		return JobRunning, nil
	case adsapi.StatusFailed, adsapi.StatusRejected:
		return JobFailed, nil
	case adsapi.StatusSuccessful:
	default: // dismissed, deleted (the ADS answers 404 for those), or a status this version does not know
		return JobUnknown, nil
	}
	monitor := root + "/jobs/" + url.PathEscape(j.JobID)
	resultsURL := j.LinkHref("results")
	if resultsURL == "" {
		resultsURL = monitor + "/results"
	}
	resp, err := r.call(ctx, "results", http.MethodGet, resolve(monitor, resultsURL), nil)
	if err != nil {
		return "", err
	}
	switch {
	case resp.status == 200:
		return JobSuccessful, nil
	case resp.status == 404 && resultsExpired(resp.body):
		return JobExpired, nil
	case resp.status == 404:
		return JobUnknown, nil
	}
	return "", refused("results", resp)
}

func (r *run) root() string { return strings.TrimRight(r.cfg.BaseURL, "/") + adsapi.ServicePrefix }

func withJobID(err error, jobID string) *Error {
	e := AsError(err)
	if e.JobID == "" {
		e.JobID = jobID
	}
	return e
}
