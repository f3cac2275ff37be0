package stub

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Two encodings of one request count as one request; each job made is counted, even one whose reply was lost.
func TestJobCountsPerCanonicalRequest(t *testing.T) {
	s, ts := newTest(t, Options{DropSubmitReplies: 1})
	api := ts.URL + "/api/retrieve/v1"
	submitUnanswered(t, api)
	// the same request, keys in another order and other spacing
	reordered := `{"inputs": {"_timestamp": "x", "area": [50.0, 0, 49, 1], "data_format": "grib", "leadtime_hour": "0",
		"time": "00:00", "type": "forecast", "date": "2025-01-01", "level": "0", "model": "ensemble", "variable": "ozone"}}`
	submitJob(t, api, reordered)
	submitJob(t, api, strings.Replace(inputs, `"leadtime_hour":"0"`, `"leadtime_hour":"1"`, 1))
	resp, b := do(t, "GET", ts.URL+"/_stub/job-counts", "", nil)
	var got struct {
		Counts []JobCount `json:"counts"`
		Total  int        `json:"total"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got.Total != 3 || len(got.Counts) != 2 || got.Counts[0].Jobs != 2 || got.Counts[1].Jobs != 1 ||
		got.Counts[0].Dataset != ds || got.Counts[0].Request["leadtime_hour"] != "0" {
		t.Fatalf("counts %s", b)
	}
	if c := s.JobCounts(); len(c) != 2 || !strings.Contains(c[0].Canonical, `"area":[50,0,49,1]`) {
		t.Fatalf("JobCounts %+v", c)
	}
}

// A stalled submit: the job exists (counted, listed) while the client still waits; the reply never comes, and the
// handler ends when the client goes away. The next submit is answered.
func TestStallSubmitRepliesHoldsTheReplyUntilTheClientGoesAway(t *testing.T) {
	s, ts := newTest(t, Options{StallSubmitReplies: 1})
	api := ts.URL + "/api/retrieve/v1"
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", api+"/processes/"+ds+"/execution", strings.NewReader(inputs))
	req.Header.Set("PRIVATE-TOKEN", key)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.JobCounts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no job was created")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the reply came while held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a reply came")
	}
	id := submitJob(t, api, inputs)
	if jobs := s.Jobs(); len(jobs) != 2 || jobs[1].JobID != id || jobs[0].Status != "accepted" {
		t.Fatalf("jobs %+v", jobs)
	}
}

// Close releases a held reply (the server can shut down).
func TestCloseReleasesAStalledSubmit(t *testing.T) {
	s, ts := newTest(t, Options{StallSubmitReplies: 5})
	api := ts.URL + "/api/retrieve/v1"
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", api+"/processes/"+ds+"/execution", strings.NewReader(inputs))
		req.Header.Set("PRIVATE-TOKEN", key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for len(s.Jobs()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a reply came")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the held reply")
	}
}

// The test control makes pinned jobs in each state, listed as the caller's; expire purges a successful job's results.
func TestCreatedJobsKeepTheirStateAndExpireOnDemand(t *testing.T) {
	_, ts := newTest(t, Options{})
	api := ts.URL + "/api/retrieve/v1"
	body := strings.TrimSuffix(strings.Replace(inputs, `{"inputs":`, `{"processID":"`+ds+`","inputs":`, 1), "}")
	make := func(status string) string {
		resp, b := do(t, "POST", ts.URL+"/_stub/jobs", body+`,"status":"`+status+`"}`, nil)
		var v JobView
		if resp.StatusCode != 201 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("create %s: %d %s", status, resp.StatusCode, b)
		}
		return v.JobID
	}
	for _, tc := range []struct{ status, ads string }{
		{"accepted", "accepted"}, {"running", "running"}, {"successful", "successful"}, {"failed", "failed"}, {"expired", "successful"},
	} {
		id := make(tc.status)
		for range 4 { // polls do not move a pinned job
			_, b := do(t, "GET", api+"/jobs/"+id, "", nil)
			if !strings.Contains(string(b), `"status":"`+tc.ads+`"`) {
				t.Fatalf("%s: %s", tc.status, b)
			}
		}
		resp, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
		want := map[string]int{"accepted": 404, "running": 404, "successful": 200, "failed": 400, "expired": 404}[tc.status]
		if resp.StatusCode != want || (tc.status == "expired") != strings.Contains(string(b), "results expired") {
			t.Fatalf("%s results: %d %s", tc.status, resp.StatusCode, b)
		}
	}
	if _, b := do(t, "GET", api+"/jobs?limit=10", "", nil); strings.Count(string(b), `"jobID"`) != 5 {
		t.Fatalf("listing %s", b)
	}
	id := make("successful")
	if resp, _ := do(t, "POST", ts.URL+"/_stub/jobs/"+id+"/expire", "", nil); resp.StatusCode != 200 {
		t.Fatalf("expire %d", resp.StatusCode)
	}
	if resp, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil); resp.StatusCode != 404 || !strings.Contains(string(b), "results expired") {
		t.Fatalf("after expire: %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "POST", ts.URL+"/_stub/jobs/"+make("running")+"/expire", "", nil); resp.StatusCode != 409 {
		t.Fatalf("expiring a running job: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", ts.URL+"/_stub/jobs", body+`,"status":"dismissed"}`, nil); resp.StatusCode != 400 {
		t.Fatalf("unknown state: %d", resp.StatusCode)
	}
}
