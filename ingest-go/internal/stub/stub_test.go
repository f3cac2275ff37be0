package stub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const key = "k"

func newTest(t *testing.T, o Options) (*Server, *httptest.Server) {
	o.APIKey, o.WorkDir = key, t.TempDir()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close) // runs first: releases held submit replies, which Close would wait for
	return s, ts
}

func do(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("PRIVATE-TOKEN", key)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

const inputs = `{"inputs":{"variable":"ozone","model":"ensemble","level":"0","date":"2025-01-01","type":"forecast","time":"00:00","leadtime_hour":"0","data_format":"grib","area":[50,0,49,1],"_timestamp":"x"}}`

func TestLifecycle(t *testing.T) {
	s, ts := newTest(t, Options{AcceptedPolls: 1, RunningPolls: 1})
	api := ts.URL + "/api/retrieve/v1"

	resp, b := do(t, "GET", api+"/processes/cams-europe-air-quality-forecasts", "", map[string]string{"PRIVATE-TOKEN": ""})
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(b), `"detail":"authentication required"`) {
		t.Fatalf("no token: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", api+"/processes/cams-europe-air-quality-forecasts/execution", inputs, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("submit %d %s", resp.StatusCode, b)
	}
	var st struct {
		JobID, Status, Created, Started string
		Links                           []struct{ Rel, Href string }
	}
	json.Unmarshal(b, &st)
	if resp.Header.Get("Location") != api+"/jobs/"+st.JobID || st.Status != "accepted" || strings.Contains(string(b), `"started"`) {
		t.Fatalf("submit body %s / location %s", b, resp.Header.Get("Location"))
	}
	if len(st.Created) != 26 || strings.ContainsAny(st.Created[19:], "Z+") { // zone-less
		t.Fatalf("created %q", st.Created)
	}
	if st.Links[1].Rel != "monitor" || st.Links[1].Href != api+"/jobs/"+st.JobID {
		t.Fatalf("links %+v", st.Links)
	}
	resp, b = do(t, "GET", api+"/jobs/"+st.JobID+"/results", "", nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "result-not-ready") {
		t.Fatalf("early results %d %s", resp.StatusCode, b)
	}
	var statuses []string
	for i := 0; i < 3; i++ {
		_, b = do(t, "GET", api+"/jobs/"+st.JobID, "", nil)
		json.Unmarshal(b, &st)
		statuses = append(statuses, st.Status)
		hasResults := strings.Contains(string(b), `"rel":"results"`)
		if hasResults != (st.Status == "successful") {
			t.Fatalf("results link presence wrong at %s: %s", st.Status, b)
		}
	}
	if strings.Join(statuses, ",") != "accepted,running,successful" {
		t.Fatalf("statuses %v", statuses)
	}
	_, b = do(t, "GET", api+"/jobs/"+st.JobID+"/results", "", nil)
	var res struct {
		Asset struct {
			Value struct {
				Type, Href string
				Size       int64 `json:"file:size"`
			}
		}
	}
	json.Unmarshal(b, &res)
	a := s.Jobs()[0].Asset
	if res.Asset.Value.Type != "application/x-grib" || res.Asset.Value.Size != a.Size || !strings.HasPrefix(res.Asset.Value.Href, ts.URL+"/download/") {
		t.Fatalf("results %s", b)
	}
	// 10x10 points, one message.
	if a.Size != 16+21+72+36+21+6+5+200+4 {
		t.Fatalf("asset size %d", a.Size)
	}
	resp, _ = do(t, "HEAD", res.Asset.Value.Href, "", map[string]string{"PRIVATE-TOKEN": ""})
	if resp.StatusCode != 200 || resp.Header.Get("Accept-Ranges") != "bytes" || resp.ContentLength != a.Size {
		t.Fatalf("HEAD %d %v", resp.StatusCode, resp.Header)
	}
	resp, b = do(t, "GET", res.Asset.Value.Href, "", map[string]string{"Range": "bytes=100-", "PRIVATE-TOKEN": ""})
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-%d/%d", a.Size-1, a.Size) || int64(len(b)) != a.Size-100 {
		t.Fatalf("range %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "DELETE", api+"/jobs/"+st.JobID, "", nil)
	if resp.StatusCode != 200 {
		t.Fatal("delete")
	}
	resp, b = do(t, "GET", api+"/jobs/"+st.JobID, "", nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "dismissed") {
		t.Fatalf("after delete %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "GET", ts.URL+"/_stub/jobs", "", nil)
	var views []JobView
	if err := json.Unmarshal(b, &views); err != nil || len(views) != 1 || len(views[0].History) != 4 || views[0].Inputs["_timestamp"] != "x" {
		t.Fatalf("_stub/jobs %s", b)
	}
}

func TestSubmitErrors(t *testing.T) {
	_, ts := newTest(t, Options{})
	api := ts.URL + "/api/retrieve/v1"
	resp, b := do(t, "POST", api+"/processes/other/execution", inputs, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"type":"no-such-process"`) || !strings.Contains(string(b), `"trace_id"`) {
		t.Fatalf("404 %s", b)
	}
	resp, b = do(t, "POST", api+"/processes/cams-europe-air-quality-forecasts/execution", strings.Replace(inputs, `"grib"`, `"netcdf"`, 1), nil)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "grib only") || !strings.Contains(string(b), `"title":"invalid request"`) {
		t.Fatalf("netcdf %d %s", resp.StatusCode, b)
	}
	resp, _ = do(t, "GET", api+"/jobs/nope", "", nil)
	if resp.StatusCode != 404 {
		t.Fatal("unknown job")
	}
}

func TestJobDurationHoldsTheJobRunning(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, ts := newTest(t, Options{AcceptedPolls: 1, RunningPolls: 1, JobDuration: 10 * time.Second, Now: clock})
	api := ts.URL + "/api/retrieve/v1"
	_, b := do(t, "POST", api+"/processes/cams-europe-air-quality-forecasts/execution", inputs, nil)
	var st struct{ JobID, Status string }
	json.Unmarshal(b, &st)
	for i := 0; i < 5; i++ {
		_, b = do(t, "GET", api+"/jobs/"+st.JobID, "", nil)
		json.Unmarshal(b, &st)
	}
	if st.Status != "running" {
		t.Fatalf("status %s after 5 polls within the job duration", st.Status)
	}
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	_, b = do(t, "GET", api+"/jobs/"+st.JobID, "", nil)
	json.Unmarshal(b, &st)
	if st.Status != "successful" || s.Jobs()[0].Asset == nil {
		t.Fatalf("status %s once the duration passed", st.Status)
	}
}

func TestDownloadThrottle(t *testing.T) {
	_, ts := newTest(t, Options{AcceptedPolls: 1, RunningPolls: 1, DownloadBytesPerSec: 2000})
	api := ts.URL + "/api/retrieve/v1"
	_, b := do(t, "POST", api+"/processes/cams-europe-air-quality-forecasts/execution", inputs, nil)
	var st struct{ JobID string }
	json.Unmarshal(b, &st)
	for i := 0; i < 3; i++ {
		do(t, "GET", api+"/jobs/"+st.JobID, "", nil)
	}
	_, b = do(t, "GET", api+"/jobs/"+st.JobID+"/results", "", nil)
	var res struct {
		Asset struct {
			Value struct {
				Href string
				Size int64 `json:"file:size"`
			}
		}
	}
	json.Unmarshal(b, &res)
	t0 := time.Now()
	_, body := do(t, "GET", res.Asset.Value.Href, "", nil)
	el := time.Since(t0)
	if int64(len(body)) != res.Asset.Value.Size {
		t.Fatalf("got %d of %d bytes", len(body), res.Asset.Value.Size)
	}
	if min := time.Duration(0.9 * float64(len(body)) / 2000 * float64(time.Second)); len(body) < 200 || el < min {
		t.Fatalf("%d bytes in %v, faster than 2000 B/s", len(body), el)
	}
}

func TestSubmitDelayHoldsTheAnswer(t *testing.T) {
	_, ts := newTest(t, Options{AcceptedPolls: 1, RunningPolls: 1, SubmitDelay: 150 * time.Millisecond})
	api := ts.URL + "/api/retrieve/v1"
	t0 := time.Now()
	resp, b := do(t, "POST", api+"/processes/cams-europe-air-quality-forecasts/execution", inputs, nil)
	if resp.StatusCode != 201 || !strings.Contains(string(b), "jobID") {
		t.Fatalf("submit %d %s", resp.StatusCode, b)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, before the delay", d)
	}
}
