package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

func queryArgs(base string, mode ...string) []string {
	return append([]string{"--base-url", base, "--dataset", cams.Dataset, "--input", "-", "--poll-initial", "10ms",
		"--timeout", "20s"}, mode...)
}

// --find-job then --job-status through the binary: one result line {"job": …}, exit 0, nothing submitted.
func TestFindJobAndJobStatusThroughTheBinary(t *testing.T) {
	s, base := startStub(t, stub.Options{StallSubmitReplies: 1})
	c := start(t, nil, queryArgs(base, "--find-job")...)
	c.send(t, inputLine(true))
	lines := c.until(t, nil)
	if code := c.wait(t); code != 0 || len(lines) != 1 || lines[0]["job"] != nil || len(lines[0]) != 1 {
		t.Fatalf("no job yet: exit %d %v", code, c.raw)
	}
	// an ingest killed after the upstream made its job, before the reply reached it (the stub holds the reply)
	ing := start(t, nil, args(base, t.TempDir())...)
	ing.send(t, inputLine(true))
	for deadline := time.Now().Add(10 * time.Second); len(s.JobCounts()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no job was made")
		}
	}
	ing.cmd.Process.Kill()
	ing.wait(t)
	jobID := s.Jobs()[0].JobID

	c = start(t, nil, queryArgs(base, "--find-job")...)
	c.send(t, inputLine(true))
	lines = c.until(t, nil)
	job, _ := lines[len(lines)-1]["job"].(map[string]any)
	if code := c.wait(t); code != 0 || job["ads_job_id"] != jobID || job["status"] != "queued" || job["held"] != true {
		t.Fatalf("find: exit %d %v", code, c.raw)
	}
	c = start(t, nil, queryArgs(base, "--job-status", jobID)...)
	c.send(t, inputLine(true))
	lines = c.until(t, nil)
	job, _ = lines[len(lines)-1]["job"].(map[string]any)
	if code := c.wait(t); code != 0 || job["ads_job_id"] != jobID || job["held"] != true {
		t.Fatalf("status: exit %d %v", code, c.raw)
	}
	if len(s.Jobs()) != 1 {
		t.Fatalf("jobs %+v", s.Jobs())
	}
	c = start(t, nil, queryArgs(base, "--job-status", jobID)...)
	c.send(t, `{"request":`+strings.ReplaceAll(request, "\n", "")+`,"api_key":"wrong"}`)
	lines = c.until(t, nil)
	e, _ := lines[len(lines)-1]["error"].(map[string]any)
	if code := c.wait(t); code != 7 || e["kind"] != "auth" || e["ads_job_id"] != jobID {
		t.Fatalf("refused: exit %d %v", code, c.raw)
	}
}

func TestModeUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"both modes", queryArgs("http://127.0.0.1:9/api", "--find-job", "--job-status", "x"), "not both"},
		{"a key", queryArgs("http://127.0.0.1:9/api", "--find-job", "--key", key), "--key is for an ingest, not for --find-job"},
		{"a sink", queryArgs("http://127.0.0.1:9/api", "--job-status", "x", "--sink-dir", "/tmp"), "--sink-dir is for an ingest"},
		{"a resume", queryArgs("http://127.0.0.1:9/api", "--find-job", "--resume-job", "x"), "--resume-job is for an ingest"},
		{"empty job id", queryArgs("http://127.0.0.1:9/api", "--job-status", ""), "--job-status must be an ADS job id"},
		{"bad job id", queryArgs("http://127.0.0.1:9/api", "--job-status", "../x"), "--job-status must be an ADS job id"},
		{"no dataset", []string{"--base-url", "http://127.0.0.1:9/api", "--input", "-", "--find-job"}, "--dataset is required"},
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
