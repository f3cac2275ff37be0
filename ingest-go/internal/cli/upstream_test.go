package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

// analysis is a jackfruit dataset whose upstream id is another name: the key carries the former, every upstream call
// the latter.
const (
	analysis    = "cams-europe-air-quality-forecasts-analysis"
	analysisKey = "ads/" + analysis + "/2025-01-01/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"
)

// withDataset replaces the --dataset and --key values of a command line and appends extra.
func withDataset(a []string, dataset, key string, extra ...string) []string {
	a = append([]string(nil), a...)
	for i := 0; i+1 < len(a); i++ {
		switch a[i] {
		case "--dataset":
			a[i+1] = dataset
		case "--key":
			a[i+1] = key
		}
	}
	return append(a, extra...)
}

func TestUpstreamDatasetIsTheProcessOfEveryCallWhileTheKeyCarriesTheDataset(t *testing.T) {
	s, base := startStub(t, stub.Options{})
	dir := t.TempDir()
	c := start(t, nil, withDataset(args(base, dir), analysis, analysisKey, "--upstream-dataset", cams.Dataset)...)
	c.send(t, inputLine(true))
	lines := c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	jobs := s.Jobs()
	if len(jobs) != 1 || jobs[0].ProcessID != cams.Dataset || lines[len(lines)-1]["key"] != analysisKey {
		t.Fatalf("jobs %+v, lines %v", jobs, c.raw)
	}
	if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(analysisKey))); err != nil || st.Size() != jobs[0].Asset.Size {
		t.Fatalf("the object under the dataset's key: %v %v", st, err)
	}
	job := jobs[0].JobID

	// the questions and a resume ask the upstream process too, and find the job it made
	q := start(t, nil, withDataset(queryArgs(base, "--find-job"), analysis, "", "--upstream-dataset", cams.Dataset)...)
	q.send(t, inputLine(true))
	got := q.until(t, nil)
	if found, _ := got[len(got)-1]["job"].(map[string]any); q.wait(t) != 0 || found["ads_job_id"] != job {
		t.Fatalf("find-job: %v", q.raw)
	}
	q = start(t, nil, withDataset(queryArgs(base, "--job-status", job), analysis, "", "--upstream-dataset", cams.Dataset)...)
	q.send(t, inputLine(true))
	got = q.until(t, nil)
	if found, _ := got[len(got)-1]["job"].(map[string]any); q.wait(t) != 0 || found["status"] != "successful" {
		t.Fatalf("job-status: %v", q.raw)
	}
	r := start(t, nil, withDataset(args(base, dir), analysis, analysisKey, "--upstream-dataset", cams.Dataset, "--resume-job", job)...)
	r.send(t, inputLine(true))
	got = r.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if r.wait(t) != 0 || got[len(got)-1]["adopted"] != true || len(s.Jobs()) != 1 {
		t.Fatalf("resume: %v", r.raw)
	}

	// without --upstream-dataset the dataset is the upstream id: the job of another process is not its
	q = start(t, nil, withDataset(queryArgs(base, "--job-status", job), analysis, "")...)
	q.send(t, inputLine(true))
	got = q.until(t, nil)
	if found, _ := got[len(got)-1]["job"].(map[string]any); q.wait(t) != 0 || found["status"] != "unknown" {
		t.Fatalf("job-status under the dataset's own name: %v", q.raw)
	}
	c = start(t, nil, withDataset(args(base, t.TempDir()), analysis, analysisKey)...)
	c.send(t, inputLine(true))
	got = c.until(t, nil)
	e, _ := got[len(got)-1]["error"].(map[string]any)
	if code := c.wait(t); code != 3 || e["kind"] != "not_found" || !strings.Contains(e["message"].(string), analysis) {
		t.Fatalf("the dataset as process id: exit %d %v", code, c.raw)
	}
	if len(s.Jobs()) != 1 {
		t.Fatalf("%d jobs upstream", len(s.Jobs()))
	}
}

func TestUpstreamDatasetUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"a path", withDataset(args("http://127.0.0.1:9/api", dir), analysis, analysisKey, "--upstream-dataset", "../x"), "--upstream-dataset must be an ADS process id"},
		{"a slash", withDataset(args("http://127.0.0.1:9/api", dir), analysis, analysisKey, "--upstream-dataset", "a/b"), "--upstream-dataset must be an ADS process id"},
		{"empty", withDataset(args("http://127.0.0.1:9/api", dir), analysis, analysisKey, "--upstream-dataset", ""), "--upstream-dataset must be an ADS process id"},
		{"empty in a query", withDataset(queryArgs("http://127.0.0.1:9/api", "--find-job"), analysis, "", "--upstream-dataset", ""), "--upstream-dataset must be an ADS process id"},
		{"the key of the upstream id", withDataset(args("http://127.0.0.1:9/api", dir), analysis, key, "--upstream-dataset", cams.Dataset), `does not match --dataset "` + analysis + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, nil, tc.args...)
			c.stdin.Close()
			lines := c.until(t, nil)
			e, _ := lines[len(lines)-1]["error"].(map[string]any)
			if code := c.wait(t); code != 2 || e["kind"] != "usage" || !strings.Contains(e["message"].(string), tc.msg) {
				t.Fatalf("exit %d %v, want a usage error containing %q", code, c.raw, tc.msg)
			}
		})
	}
}

// Every flag of the binary has its row in the protocol doc's flag table, and every row is a flag.
func TestEveryFlagIsInTheProtocolDoc(t *testing.T) {
	b, err := os.ReadFile("../../../docs/ingester-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| flag | default | meaning |") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "|") {
			break
		}
		if cells := strings.Split(line, "|"); in && len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			doc[strings.TrimPrefix(strings.Fields(strings.Trim(strings.TrimSpace(cells[1]), "`"))[0], "--")] = true
		}
	}
	fs, _ := newFlagSet()
	fs.VisitAll(func(f *flag.Flag) {
		if !doc[f.Name] {
			t.Errorf("--%s is not in the protocol doc's flag table", f.Name)
		}
		delete(doc, f.Name)
	})
	for name := range doc {
		t.Errorf("the protocol doc documents --%s, which the binary does not have", name)
	}
}
