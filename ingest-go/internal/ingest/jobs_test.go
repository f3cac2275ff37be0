package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

// makeJob has the stub's test control make a job of inputs in a state (pinned there); returns its id.
func (e *env) makeJob(t *testing.T, inputs, status string) string {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/_stub/jobs", "application/json",
		strings.NewReader(`{"processID":"`+cams.Dataset+`","inputs":`+inputs+`,"status":"`+status+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ JobID string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 201 {
		t.Fatalf("make %s job: %d %v", status, resp.StatusCode, err)
	}
	return v.JobID
}

func (e *env) queryConfig() ingest.Config {
	c := e.config(nil)
	c.Key, c.Sink = "", nil
	return c
}

// the same request in another encoding (keys reordered, other spacing): the same request
const sameRequest = `{"area":[60.0,0,55,10],"data_format":"grib","date":["2025-01-01"],"leadtime_hour":["0","1"],
"level":["0"],"model":["ensemble"],"time":["00:00"],"type":["forecast"],"variable":["ozone"]}`

const otherRequest = `{"variable":["ozone"],"model":["ensemble"],"level":["0"],"date":["2025-01-02"],"type":["forecast"],
"time":["00:00"],"leadtime_hour":["0"],"data_format":"grib","area":[60,0,55,10]}`

func TestFindJobPrefersAHeldJobNewestFirst(t *testing.T) {
	e := newEnv(t, stub.Options{})
	older := e.makeJob(t, request, "successful")
	newer := e.makeJob(t, sameRequest, "running")
	e.makeJob(t, sameRequest, "failed")    // newest, not held
	e.makeJob(t, otherRequest, "accepted") // another request
	before := len(e.stub.Jobs())
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil {
		t.Fatal(err)
	}
	if a == nil || a.JobID != newer || a.Status != ingest.JobRunning || !a.Held || a.ADSStatus != "running" {
		t.Fatalf("found %+v, want the running job %s (older: %s)", a, newer, older)
	}
	if len(e.stub.Jobs()) != before {
		t.Fatal("a job was submitted")
	}
}

func TestFindJobTellsAnExpiredProductFromAHeldOne(t *testing.T) {
	e := newEnv(t, stub.Options{})
	held := e.makeJob(t, request, "successful")
	e.makeJob(t, request, "expired") // newer, but its results are gone
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil || a == nil || a.JobID != held || a.Status != ingest.JobSuccessful || !a.Held {
		t.Fatalf("found %+v %v, want the successful job %s", a, err, held)
	}
}

func TestFindJobAnswersTheNewestWhenNoneIsHeld(t *testing.T) {
	e := newEnv(t, stub.Options{})
	e.makeJob(t, request, "failed")
	expired := e.makeJob(t, request, "expired")
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil || a == nil || a.JobID != expired || a.Status != ingest.JobExpired || a.Held {
		t.Fatalf("found %+v %v, want the expired job %s", a, err, expired)
	}
}

func TestFindJobAnswersNoneForAnotherRequestOrDataset(t *testing.T) {
	e := newEnv(t, stub.Options{})
	e.makeJob(t, otherRequest, "successful")
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil || a != nil {
		t.Fatalf("found %+v %v, want none", a, err)
	}
	c := e.queryConfig()
	c.ProcessID = "cams-global-reanalysis-eac4"
	e.makeJob(t, request, "successful")
	if a, err := ingest.FindJob(context.Background(), c); err != nil || a != nil {
		t.Fatalf("another dataset: found %+v %v", a, err)
	}
}

// A job the lost reply of a killed ingester created is found: queued, never followed.
func TestFindJobFindsTheJobOfASubmitWhoseReplyWasLost(t *testing.T) {
	e := newEnv(t, stub.Options{DropSubmitReplies: 1})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/retrieve/v1/processes/"+cams.Dataset+"/execution",
		strings.NewReader(`{"inputs":`+request+`}`))
	req.Header.Set("PRIVATE-TOKEN", apiKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the dropped reply came")
	}
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil || a == nil || a.JobID != e.stub.Jobs()[0].JobID || a.Status != ingest.JobQueued || !a.Held {
		t.Fatalf("found %+v %v, jobs %+v", a, err, e.stub.Jobs())
	}
}

func TestFindJobRefusalsAndUnavailability(t *testing.T) {
	e := newEnv(t, stub.Options{})
	c := e.queryConfig()
	c.APIKey = "wrong"
	_, err := ingest.FindJob(context.Background(), c)
	wantErr(t, err, ingest.KindAuth, 7, 401, "list jobs refused")

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	c = e.queryConfig()
	c.BaseURL = down.URL + "/api"
	_, err = ingest.FindJob(context.Background(), c)
	wantErr(t, err, ingest.KindUnavailable, 6, 503, "list jobs failed after 4 tries")
}

func TestJobStatusOfEachState(t *testing.T) {
	e := newEnv(t, stub.Options{})
	for _, tc := range []struct {
		made, want string
		held       bool
	}{
		{"accepted", ingest.JobQueued, true}, {"running", ingest.JobRunning, true},
		{"successful", ingest.JobSuccessful, true}, {"failed", ingest.JobFailed, false},
		{"expired", ingest.JobExpired, false},
	} {
		id := e.makeJob(t, request, tc.made)
		a, err := ingest.JobStatus(context.Background(), e.queryConfig(), id)
		if err != nil || a.JobID != id || a.Status != tc.want || a.Held != tc.held {
			t.Errorf("%s: %+v %v", tc.made, a, err)
		}
	}
	jobs := len(e.stub.Jobs())
	a, err := ingest.JobStatus(context.Background(), e.queryConfig(), "00000000-0000-4000-8000-000000000000")
	if err != nil || a.Status != ingest.JobUnknown || a.Held || a.JobID != "00000000-0000-4000-8000-000000000000" {
		t.Fatalf("unknown job: %+v %v", a, err)
	}
	if len(e.stub.Jobs()) != jobs {
		t.Fatal("a job was submitted")
	}
}

func TestJobStatusOfADismissedJobOrOfAnotherDatasetIsUnknown(t *testing.T) {
	e := newEnv(t, stub.Options{})
	id := e.submitOnly(t)
	c := e.queryConfig()
	c.ProcessID = "cams-global-reanalysis-eac4"
	if a, err := ingest.JobStatus(context.Background(), c, id); err != nil || a.Status != ingest.JobUnknown {
		t.Fatalf("another dataset's job: %+v %v", a, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/api/retrieve/v1/jobs/"+id, nil)
	req.Header.Set("PRIVATE-TOKEN", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v", err)
	}
	resp.Body.Close()
	if a, err := ingest.JobStatus(context.Background(), e.queryConfig(), id); err != nil || a.Status != ingest.JobUnknown {
		t.Fatalf("dismissed job: %+v %v", a, err)
	}
}

func TestJobStatusRefusedKeepsTheJobID(t *testing.T) {
	e := newEnv(t, stub.Options{})
	id := e.submitOnly(t)
	c := e.queryConfig()
	c.APIKey = "wrong"
	_, err := ingest.JobStatus(context.Background(), c, id)
	if got := wantErr(t, err, ingest.KindAuth, 7, 401, "job status refused"); got.JobID != id {
		t.Fatalf("job id %q", got.JobID)
	}
}

// A dismissed job of the request is no candidate: find-job never answers unknown.
func TestFindJobSkipsDismissedJobs(t *testing.T) {
	e := newEnv(t, stub.Options{})
	failed := e.makeJob(t, request, "failed")
	id := e.submitOnly(t)
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/api/retrieve/v1/jobs/"+id, nil)
	req.Header.Set("PRIVATE-TOKEN", apiKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v", err)
	} else {
		resp.Body.Close()
	}
	a, err := ingest.FindJob(context.Background(), e.queryConfig())
	if err != nil || a == nil || a.JobID != failed || a.Status != ingest.JobFailed {
		t.Fatalf("found %+v %v, want the failed job %s", a, err, failed)
	}
}
