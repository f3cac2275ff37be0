package stub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
)

const global = "cams-global-atmospheric-composition-forecasts"

// untilEnded polls a job until it is successful or failed and returns its status object.
func untilEnded(t *testing.T, api, id string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, b := do(t, "GET", api+"/jobs/"+id, "", nil)
		var st map[string]any
		json.Unmarshal(b, &st)
		if st["status"] == "successful" || st["status"] == "failed" {
			return st
		}
	}
	t.Fatalf("job %s did not end", id)
	return nil
}

func submitTo(t *testing.T, api, dataset, body string) string {
	t.Helper()
	resp, b := do(t, "POST", api+"/processes/"+dataset+"/execution", body, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("submit to %s: %d %s", dataset, resp.StatusCode, b)
	}
	var st struct{ JobID string }
	json.Unmarshal(b, &st)
	return st.JobID
}

// The product command gets one JSON line {"dataset", "request"} and its stdout is the job's asset (here: `cat`
// serves that very line), with the size and checksum of those bytes.
func TestProductCommandServesItsStdoutForEveryDataset(t *testing.T) {
	s, ts := newTest(t, Options{Datasets: []string{cams.Dataset, global}, ProductCommand: []string{"sh", "-c", "cat"}})
	api := ts.URL + "/api/retrieve/v1"
	for _, ds := range []string{cams.Dataset, global} {
		// any inputs: the command, not the stub, is the upstream's validation
		id := submitTo(t, api, ds, `{"inputs":{"variable":["no2"],"date":"2025-01-01","area":[90,-180,-90,180]}}`)
		if st := untilEnded(t, api, id); st["status"] != "successful" {
			t.Fatalf("%s: %v", ds, st)
		}
		_, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
		var res struct {
			Asset struct {
				Value struct {
					Href     string
					Size     int64  `json:"file:size"`
					Checksum string `json:"file:checksum"`
				}
			}
		}
		json.Unmarshal(b, &res)
		_, body := do(t, "GET", res.Asset.Value.Href, "", nil)
		want := `{"dataset":"` + ds + `","request":{"area":[90,-180,-90,180],"date":"2025-01-01","variable":["no2"]}}` + "\n"
		sum := sha256.Sum256(body)
		if string(body) != want || res.Asset.Value.Size != int64(len(want)) || res.Asset.Value.Checksum != hex.EncodeToString(sum[:])[:32] {
			t.Fatalf("%s: asset %q (results %s)", ds, body, b)
		}
	}
	jobs := s.Jobs()
	if len(jobs) != 2 || jobs[0].ProcessID != cams.Dataset || jobs[1].ProcessID != global || jobs[1].Asset.SHA256 == "" {
		t.Fatalf("jobs %+v", jobs)
	}
	resp, b := do(t, "POST", api+"/processes/cams-global-reanalysis-eac4/execution", inputs, nil)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "process cams-global-reanalysis-eac4 not found") {
		t.Fatalf("a process not served: %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "GET", api+"/processes/"+global, "", nil); resp.StatusCode != 200 {
		t.Fatalf("GET process %s: %d", global, resp.StatusCode)
	}
}

// A command that fails ends the job failed, its stderr (trimmed) in the results' traceback; no asset is left.
func TestProductCommandFailureFailsTheJobWithItsStderr(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"exit 3", "cat >/dev/null; echo '  invalid request: unknown variable \"nox\"  ' >&2; exit 3",
			`failed (exit status 3): invalid request: unknown variable "nox"`},
		{"nothing written", "cat >/dev/null", "it wrote no product on stdout"},
		{"not found", "exec /nonexistent/product-command", "failed (exit status 127)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", tc.script}})
			api := ts.URL + "/api/retrieve/v1"
			id := submitTo(t, api, global, inputs)
			if st := untilEnded(t, api, id); st["status"] != "failed" {
				t.Fatalf("status %v", st)
			}
			resp, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
			var p struct{ Title, Traceback string }
			json.Unmarshal(b, &p)
			if resp.StatusCode != 400 || !strings.Contains(p.Traceback, tc.want) || !strings.Contains(p.Traceback, global) {
				t.Fatalf("results %d %s, want %q", resp.StatusCode, b, tc.want)
			}
			if j := s.Jobs()[0]; j.Asset != nil {
				t.Fatalf("an asset for a failed job: %+v", j.Asset)
			}
		})
	}
}

// A product command that hangs is killed after ProductTimeout: its job ends failed naming the timeout, nothing left.
func TestAHungProductCommandIsKilledAfterItsTimeoutAndItsJobFails(t *testing.T) {
	s, ts := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", "cat >/dev/null; exec sleep 60"},
		ProductTimeout: 300 * time.Millisecond})
	api := ts.URL + "/api/retrieve/v1"
	start := time.Now()
	id := submitTo(t, api, global, inputs)
	if st := untilEnded(t, api, id); st["status"] != "failed" {
		t.Fatalf("status %v", st)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("the job ended after %v, not about the 300ms timeout", el)
	}
	_, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
	if !strings.Contains(string(b), "killed after the product timeout of 300ms") {
		t.Fatalf("results %s", b)
	}
	if j := s.Jobs()[0]; j.Asset != nil {
		t.Fatalf("an asset for a failed job: %+v", j.Asset)
	}
}

// A test-control job made successful runs the command too.
func TestProductCommandMakesTheProductOfAControlJob(t *testing.T) {
	_, ts := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", "cat"}})
	resp, b := do(t, "POST", ts.URL+"/_stub/jobs", `{"inputs":{"date":"2025-01-01"},"status":"successful"}`, nil)
	var v JobView
	json.Unmarshal(b, &v)
	want := `{"dataset":"` + global + `","request":{"date":"2025-01-01"}}` + "\n"
	if resp.StatusCode != 201 || v.ProcessID != global || v.Asset == nil || v.Asset.Size != int64(len(want)) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestSummarizeKeepsTheFirstAndLastLines(t *testing.T) {
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, "line "+string(rune('a'+i-1)))
	}
	got := summarize("\n\n" + strings.Join(lines, "\n") + "\n\n")
	want := "line a\nline b\nline c\nline d\nline e\n[… 12 lines …]\nline r\nline s\nline t"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if got := summarize(strings.Repeat("x", 5000)); len(got) != detailBytes+len(" […]") {
		t.Fatalf("a long line is %d bytes", len(got))
	}
}

func TestDatasetsAndLicences(t *testing.T) {
	if _, err := New(Options{APIKey: key, WorkDir: t.TempDir(), Datasets: []string{global}}); err == nil ||
		!strings.Contains(err.Error(), "needs a product command") {
		t.Fatalf("another dataset without a product command: %v", err)
	}
	if _, err := New(Options{APIKey: key, WorkDir: t.TempDir(), Datasets: []string{"../x"}, ProductCommand: []string{"cat"}}); err == nil {
		t.Fatal("a dataset that is no path segment was accepted")
	}
	if _, err := New(Options{APIKey: key, WorkDir: t.TempDir(), ProductCommand: []string{}}); err == nil {
		t.Fatal("an empty product command was accepted")
	}
	_, ts := newTest(t, Options{Datasets: []string{global, "cams-global-reanalysis-eac4"}, ProductCommand: []string{"cat"},
		RequireLicenceFor: []string{"cams-global-reanalysis-eac4"}})
	api := ts.URL + "/api/retrieve/v1"
	resp, b := do(t, "POST", api+"/processes/cams-global-reanalysis-eac4/execution", inputs, nil)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "required licences not accepted") ||
		!strings.Contains(string(b), "datasets/cams-global-reanalysis-eac4?tab=download") {
		t.Fatalf("licence refused: %d %s", resp.StatusCode, b)
	}
	submitTo(t, api, global, inputs) // its licence is accepted
}

// pollUntil polls a job until its status (as the stub records it) is want.
func pollUntil(t *testing.T, s *Server, api, id, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		do(t, "GET", api+"/jobs/"+id, "", nil)
		for _, j := range s.Jobs() {
			if j.JobID == id && j.Status == want {
				return
			}
		}
	}
	t.Fatalf("job %s not %s within %s: %+v", id, want, within, s.Jobs())
}

func workFiles(t *testing.T, s *Server) []string {
	t.Helper()
	ents, err := os.ReadDir(s.opts.WorkDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A command killed while it writes fails the job and leaves no part of its product behind.
func TestAKilledProductCommandLeavesNothing(t *testing.T) {
	s, ts := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", "cat >/dev/null; printf GRIB; kill -9 $$"}})
	api := ts.URL + "/api/retrieve/v1"
	id := submitTo(t, api, global, inputs)
	if st := untilEnded(t, api, id); st["status"] != "failed" {
		t.Fatalf("status %v", st)
	}
	_, b := do(t, "GET", api+"/jobs/"+id+"/results", "", nil)
	if !strings.Contains(string(b), "signal: killed") {
		t.Fatalf("results %s", b)
	}
	if files := workFiles(t, s); len(files) != 0 {
		t.Fatalf("left in the work dir: %v", files)
	}
}

// The stub stopping kills the commands still running (their jobs fail), and a job dismissed while its command runs
// stays dismissed, its product dropped.
func TestCloseKillsRunningCommandsAndADismissedJobStaysDismissed(t *testing.T) {
	s, ts := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", "cat >/dev/null; sleep 1; echo GRIB"}})
	api := ts.URL + "/api/retrieve/v1"
	id := submitTo(t, api, global, inputs)
	pollUntil(t, s, api, id, "running", 5*time.Second)
	do(t, "GET", api+"/jobs/"+id, "", nil) // the poll that starts the command
	if resp, b := do(t, "DELETE", api+"/jobs/"+id, "", nil); resp.StatusCode != 200 {
		t.Fatalf("delete %d %s", resp.StatusCode, b)
	}
	time.Sleep(1500 * time.Millisecond) // the command ends meanwhile
	if j := s.Jobs()[0]; j.Status != "dismissed" || j.Asset != nil || len(workFiles(t, s)) != 0 {
		t.Fatalf("dismissed job %+v, files %v", j, workFiles(t, s))
	}

	slow, ts2 := newTest(t, Options{Datasets: []string{global}, ProductCommand: []string{"sh", "-c", "exec sleep 30"}})
	api = ts2.URL + "/api/retrieve/v1"
	id = submitTo(t, api, global, inputs)
	pollUntil(t, slow, api, id, "running", 5*time.Second)
	do(t, "GET", api+"/jobs/"+id, "", nil) // starts the command
	start := time.Now()
	slow.Close()
	pollUntil(t, slow, api, id, "failed", 5*time.Second)
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close did not stop the command")
	}
}
