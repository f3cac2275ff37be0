package stub

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const ds = "cams-europe-air-quality-forecasts"

func submitJob(t *testing.T, api, body string) string {
	t.Helper()
	resp, b := do(t, "POST", api+"/processes/"+ds+"/execution", body, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("submit %d %s", resp.StatusCode, b)
	}
	var st struct{ JobID string }
	json.Unmarshal(b, &st)
	return st.JobID
}

// finish polls a job until it is successful.
// submitUnanswered submits inputs and expects no reply (a dropped one).
func submitUnanswered(t *testing.T, api string) {
	t.Helper()
	req, _ := http.NewRequest("POST", api+"/processes/"+ds+"/execution", strings.NewReader(inputs))
	req.Header.Set("PRIVATE-TOKEN", key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a reply came: %d", resp.StatusCode)
	}
}

func finish(t *testing.T, api, id string) {
	t.Helper()
	for range 10 {
		_, b := do(t, "GET", api+"/jobs/"+id, "", nil)
		if strings.Contains(string(b), `"status":"successful"`) {
			return
		}
	}
	t.Fatalf("job %s did not finish", id)
}

func TestListJobsNewestFirstWithRequests(t *testing.T) {
	_, ts := newTest(t, Options{})
	api := ts.URL + "/api/retrieve/v1"
	a := submitJob(t, api, inputs)
	b := submitJob(t, api, strings.Replace(inputs, `"x"`, `"y"`, 1))
	c := submitJob(t, api, inputs)

	resp, body := do(t, "GET", api+"/jobs?limit=2&sortby=-created&request=true", "", nil)
	var list struct {
		Jobs []struct {
			JobID, ProcessID, Created string
			Metadata                  struct {
				Request struct{ IDs map[string]any }
			}
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Jobs) != 2 {
		t.Fatalf("list %d %s", resp.StatusCode, body)
	}
	if list.Jobs[0].JobID != c || list.Jobs[1].JobID != b || list.Jobs[0].ProcessID != ds || list.Jobs[0].Created < list.Jobs[1].Created {
		t.Fatalf("order: %s (want %s, %s; a %s)", body, c, b, a)
	}
	if list.Jobs[1].Metadata.Request.IDs["_timestamp"] != "y" || list.Jobs[0].Metadata.Request.IDs["variable"] != "ozone" {
		t.Fatalf("requests: %s", body)
	}
	// Without request=true the requests are left out; bad parameters are refused.
	if _, body = do(t, "GET", api+"/jobs", "", nil); strings.Contains(string(body), "metadata") || strings.Count(string(body), `"jobID"`) != 3 {
		t.Fatalf("default listing %s", body)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "sortby=created"} {
		if resp, body = do(t, "GET", api+"/jobs?"+q, "", nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if resp, _ = do(t, "GET", api+"/jobs", "", map[string]string{"PRIVATE-TOKEN": "someone-else"}); resp.StatusCode != 401 {
		t.Fatalf("foreign key: %d", resp.StatusCode)
	}
}

func TestListJobsShowsOnlyTheCallersJobs(t *testing.T) {
	s, ts := newTest(t, Options{})
	api := ts.URL + "/api/retrieve/v1"
	mine := submitJob(t, api, inputs)
	s.mu.Lock()
	s.jobs[mine].owner = "another-account" // as if another key had submitted it
	s.mu.Unlock()
	if _, body := do(t, "GET", api+"/jobs", "", nil); strings.Contains(string(body), mine) {
		t.Fatalf("another account's job listed: %s", body)
	}
}

// ExpireResults N purges the product of the first N successful jobs whose results are asked for; purged stays purged.
func TestExpireResultsCountsJobsAndStays(t *testing.T) {
	_, ts := newTest(t, Options{ExpireResults: 1})
	api := ts.URL + "/api/retrieve/v1"
	var got []string
	for range 2 {
		id := submitJob(t, api, inputs)
		resp, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil) // not ready: does not count
		if resp.StatusCode != 404 || !strings.Contains(string(b), "result-not-ready") {
			t.Fatalf("early results %d %s", resp.StatusCode, b)
		}
		finish(t, api, id)
		for range 2 {
			resp, b = do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
			got = append(got, fmt.Sprint(resp.StatusCode, strings.Contains(string(b), `"type":"results expired"`)))
		}
	}
	if strings.Join(got, ",") != "404 true,404 true,200 false,200 false" {
		t.Fatalf("results answers %v", got)
	}
}

func TestDropSubmitRepliesCreatesTheJobWithoutAnswering(t *testing.T) {
	s, ts := newTest(t, Options{DropSubmitReplies: 1})
	api := ts.URL + "/api/retrieve/v1"
	submitUnanswered(t, api)
	if len(s.Jobs()) != 1 {
		t.Fatalf("jobs %+v", s.Jobs())
	}
	submitJob(t, api, inputs) // the next submit is answered
	if len(s.Jobs()) != 2 {
		t.Fatalf("jobs %+v", s.Jobs())
	}
}

func TestSyntheticAssetIsDeterministicAndRangeable(t *testing.T) {
	const size = 3<<20 + 12345
	_, ts := newTest(t, Options{SyntheticSize: size})
	api := ts.URL + "/api/retrieve/v1"
	fetch := func(id string, hdr map[string]string) (*http.Response, []byte) {
		finish(t, api, id)
		_, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
		var res struct {
			Asset struct {
				Value struct {
					Href string
					Size int64 `json:"file:size"`
				}
			}
		}
		if json.Unmarshal(b, &res) != nil || res.Asset.Value.Size != size {
			t.Fatalf("results %s", b)
		}
		return do(t, "GET", res.Asset.Value.Href, "", hdr)
	}
	resp, a := fetch(submitJob(t, api, inputs), nil)
	_, b := fetch(submitJob(t, api, inputs), nil)
	if resp.StatusCode != 200 || len(a) != size || sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("status %d, %d bytes, identical %v", resp.StatusCode, len(a), sha256.Sum256(a) == sha256.Sum256(b))
	}
	// Each 1 MiB period starts with its index, so the copies differ.
	if string(a[:1<<20]) == string(a[1<<20:2<<20]) || a[(2<<20)+7] != 2 {
		t.Fatal("the periods are identical")
	}
	resp, part := fetch(submitJob(t, api, inputs), map[string]string{"Range": "bytes=1048570-"})
	if resp.StatusCode != 206 || string(part) != string(a[1048570:]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(part))
	}
	n, err := io.ReadFull(io.NewSectionReader(synthetic{size}, size-10, 20), make([]byte, 20))
	if n != 10 || err == nil {
		t.Fatalf("read past the end: %d %v", n, err)
	}
}
