package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
)

// SubmitClockSkew is how much earlier than this process's clock said the submit started a job may have been
// created (by the ADS's clock) and still be taken for the job of a lost submit reply.
const SubmitClockSkew = 5 * time.Second

// ListJobsLimit is the size of the one page of the account's newest jobs searched for a lost submit's job.
const ListJobsLimit = 100

// findLostSubmit searches the account's newest jobs (GET {root}/jobs?limit=…&sortby=-created, ads-api.md §2
// item 9) for the job a submit whose reply was lost may have created: a job of this request (sameRequest), created
// at or after the submit started (minus SubmitClockSkew), not dismissed or deleted, not a job this run already
// followed. The newest such job is returned; nil when there is none, or when the listing is refused (4xx:
// submitting again is then the only way on; the retry is logged). A listing that keeps failing
// (retries exhausted) is an error: the run stops rather than risk a second job.
func (r *run) findLostSubmit(ctx context.Context, root string, started time.Time) (*adsapi.StatusInfo, error) {
	list, resp, err := r.listJobs(ctx, root)
	if err != nil {
		e := AsError(err)
		if e.Kind == KindUnavailable {
			e.Message = "cannot tell whether the lost submit created a job (not submitting again): " + e.Message
		}
		return nil, e
	}
	if list == nil {
		r.log.Warn("cannot list the account's jobs; submitting again (a job the lost reply was about would stay upstream, unused)",
			"status", resp.status)
		return nil, nil
	}
	cutoff := started.Add(-SubmitClockSkew)
	found, err := r.jobsOfRequest(ctx, root, list, func(j *adsapi.StatusInfo) bool {
		if r.followed[j.JobID] || j.Status == adsapi.StatusDismissed || j.Status == adsapi.StatusDeleted {
			return false
		}
		created, err := adsapi.ParseTime(j.Created)
		return err == nil && !created.Before(cutoff)
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		r.log.Info("no job of this request was created since the submit started; submitting again",
			"jobs_listed", len(list.Jobs))
		return nil, nil
	}
	if len(found) > 1 {
		var others []string
		for _, j := range found[1:] {
			others = append(others, j.JobID)
		}
		r.log.Warn("several jobs match the lost submit; adopting the newest, the others stay upstream unused", "unused", others)
	}
	return found[0], nil
}

// listJobs GETs one page of the account's newest jobs with their requests (ads-api.md §2 item 9). A list that
// cannot be had — refused (non-retryable 4xx) or unreadable — is nil with the response; transient failures that
// outlast the retries are the error.
func (r *run) listJobs(ctx context.Context, root string) (*adsapi.JobList, *response, error) {
	q := url.Values{"limit": {strconv.Itoa(ListJobsLimit)}, "sortby": {"-created"}, "request": {"true"}}
	resp, err := r.call(ctx, "list jobs", http.MethodGet, root+"/jobs?"+q.Encode(), nil)
	if err != nil {
		return nil, nil, err
	}
	var list adsapi.JobList
	if resp.status != 200 || json.Unmarshal(resp.body, &list) != nil {
		return nil, resp, nil
	}
	return &list, resp, nil
}

// jobsOfRequest returns the listed jobs, in listing order (newest first), that keep accepts and that were submitted
// for this run's process id with this run's request: processID = ProcessID and metadata.request.ids equal to Inputs as
// canonical JSON (a listing entry without the request is completed by GET /jobs/{id}?request=true). The one
// matching rule of the lost-submit search and of the find-job mode.
func (r *run) jobsOfRequest(ctx context.Context, root string, list *adsapi.JobList, keep func(*adsapi.StatusInfo) bool) ([]*adsapi.StatusInfo, error) {
	want, ok := adsapi.CanonicalJSON(r.cfg.Inputs)
	if !ok {
		return nil, errorf(KindUsage, "request: not valid JSON")
	}
	var found []*adsapi.StatusInfo
	for i := range list.Jobs {
		j := &list.Jobs[i]
		if j.JobID == "" || j.ProcessID != r.cfg.ProcessID || !keep(j) {
			continue
		}
		req, ok := requestOf(j)
		if !ok {
			// This listing does not carry the request: ask the job itself.
			d, err := r.call(ctx, "list jobs", http.MethodGet, root+"/jobs/"+url.PathEscape(j.JobID)+"?request=true", nil)
			if err != nil {
				return nil, err
			}
			var st adsapi.StatusInfo
			if d.status != 200 || json.Unmarshal(d.body, &st) != nil {
				continue
			}
			if req, ok = requestOf(&st); !ok {
				continue
			}
		}
		if got, ok := adsapi.CanonicalJSON(req); ok && got == want {
			found = append(found, j)
		}
	}
	return found, nil
}

// requestOf returns metadata.request.ids of a job object (the inputs it was submitted with).
func requestOf(j *adsapi.StatusInfo) (json.RawMessage, bool) {
	req, ok := j.Metadata["request"].(map[string]any)
	if !ok {
		return nil, false
	}
	ids, ok := req["ids"]
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(ids)
	return b, err == nil
}

// resultsExpired tells the "results expired" 404 (the ADS purged a finished job's product, ads-api.md §3)
// from other 404s of the results URL.
func resultsExpired(body []byte) bool {
	var p adsapi.Problem
	if json.Unmarshal(body, &p) != nil {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(p.Type), "results expired") ||
		strings.EqualFold(strings.TrimSpace(p.Title), "results expired") ||
		strings.HasSuffix(strings.ToLower(p.Type), "/results-expired")
}
