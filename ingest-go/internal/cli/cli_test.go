package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink/s3test"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

// The test binary doubles as the ingester (Main, as cmd/jackfruit-ingest runs it): the tests run it as a child process, exactly like
// the Python SubprocessRunner runs jackfruit-ingest.
func TestMain(m *testing.M) {
	if os.Getenv("JACKFRUIT_INGEST_AS_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

const (
	apiKey  = "s3cr3t-test-key"
	key     = "ads/cams-europe-air-quality-forecasts/2025-01-01/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"
	attempt = "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6c"
	request = `{"variable":["ozone"],"model":["ensemble"],"level":["0"],"date":["2025-01-01"],"type":["forecast"],
"time":["00:00"],"leadtime_hour":["0","1"],"data_format":"grib","area":[60,0,55,10]}`
)

func startStub(t *testing.T, o stub.Options) (*stub.Server, string) {
	t.Helper()
	o.APIKey, o.WorkDir = apiKey, t.TempDir()
	s, err := stub.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL + "/api"
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan map[string]any
	stderr *strings.Builder
	raw    []string
}

// start runs the ingester with args; env holds extra variables (ADS_API_KEY is never inherited).
func start(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{"JACKFRUIT_INGEST_AS_MAIN=1", "PATH=" + os.Getenv("PATH")}, env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan map[string]any, 64), stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"unparsed": sc.Text()}
			}
			c.lines <- m
		}
	}()
	return c
}

func (c *child) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// until reads lines until pred holds (or the output ends / times out); it returns every line read.
func (c *child) until(t *testing.T, pred func(map[string]any) bool) []map[string]any {
	t.Helper()
	var got []map[string]any
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				return got
			}
			got = append(got, m)
			b, _ := json.Marshal(m)
			c.raw = append(c.raw, string(b))
			if pred != nil && pred(m) {
				return got
			}
		case <-deadline:
			t.Fatalf("timed out; lines so far %v; stderr %s", c.raw, c.stderr)
		}
	}
}

func (c *child) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("child did not exit; stderr %s", c.stderr)
	}
	return c.cmd.ProcessState.ExitCode()
}

func args(base, sinkDir string, extra ...string) []string {
	return append([]string{"--base-url", base, "--dataset", cams.Dataset, "--input", "-", "--key", key,
		"--sink-dir", sinkDir, "--poll-initial", "10ms", "--poll-max", "50ms", "--timeout", "60s"}, extra...)
}

func inputLine(withKey bool) string {
	if withKey {
		return `{"request":` + strings.ReplaceAll(request, "\n", "") + `,"api_key":"` + apiKey + `"}`
	}
	return `{"request":` + strings.ReplaceAll(request, "\n", "") + `}`
}

func event(m map[string]any) string {
	switch m["event"] {
	case "phase":
		return "phase:" + m["phase"].(string)
	case "submitted":
		return "submitted:" + m["status"].(string)
	}
	return "final"
}

// Results that expire once: the request is submitted again, announced with "replaces"; twice: exit 8.
func TestExpiredResultsThroughTheBinary(t *testing.T) {
	s, base := startStub(t, stub.Options{ExpireResults: 1})
	c := start(t, nil, args(base, t.TempDir(), "--max-retries", "2", "--queue-deadline", "30s")...)
	c.send(t, inputLine(true))
	lines := c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	jobs := s.Jobs()
	var submitted []map[string]any
	for _, m := range lines {
		if m["event"] == "submitted" {
			submitted = append(submitted, m)
		}
	}
	if len(jobs) != 2 || len(submitted) != 2 || submitted[0]["replaces"] != nil ||
		submitted[1]["ads_job_id"] != jobs[1].JobID || submitted[1]["replaces"] != jobs[0].JobID ||
		lines[len(lines)-1]["ads_job_id"] != jobs[1].JobID {
		t.Fatalf("jobs %d, lines %v", len(jobs), c.raw)
	}

	_, base = startStub(t, stub.Options{ExpireResults: 2})
	c = start(t, nil, args(base, t.TempDir())...)
	c.send(t, inputLine(true))
	lines = c.until(t, nil)
	if code := c.wait(t); code != 8 {
		t.Fatalf("exit %d, want 8: %v %s", code, c.raw, c.stderr)
	}
	if e, _ := lines[len(lines)-1]["error"].(map[string]any); e["kind"] != "expired" || e["http_status"] != 404.0 {
		t.Fatalf("error line %v", lines[len(lines)-1])
	}
}

func TestEventsThenManifestAndTheKeyFromStdinOnly(t *testing.T) {
	s, base := startStub(t, stub.Options{})
	dir := t.TempDir()
	c := start(t, nil, args(base, dir, "--attempt", attempt)...)
	c.send(t, inputLine(true))
	lines := c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	var seq []string
	for _, m := range lines {
		seq = append(seq, event(m))
	}
	if got := strings.Join(seq, " "); got != "phase:submit submitted:accepted phase:poll phase:download phase:commit final" {
		t.Fatalf("sequence %q", got)
	}
	final := lines[len(lines)-1]
	job := s.Jobs()[0].JobID
	if lines[1]["ads_job_id"] != job || final["ads_job_id"] != job || final["adopted"] != false || final["key"] != key {
		t.Fatalf("ids: submitted %v final %v, stub %s", lines[1], final, job)
	}
	if strings.Contains(strings.Join(c.raw, "\n")+c.stderr.String(), apiKey) {
		t.Fatal("the API key was echoed")
	}
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil || st.Mode().Perm() != 0o444 {
		t.Fatalf("committed object %v %v", st, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
		t.Fatalf("%d staging files left", len(ents))
	}
}

func TestParentGoneCancelsWithoutCommitting(t *testing.T) {
	s, base := startStub(t, stub.Options{JobDuration: time.Minute})
	dir := t.TempDir()
	c := start(t, nil, args(base, dir, "--attempt", attempt)...)
	c.send(t, inputLine(true))
	c.until(t, func(m map[string]any) bool { return m["event"] == "phase" && m["phase"] == "poll" })
	c.stdin.Close() // the parent's death, as the child sees it
	lines := c.until(t, nil)
	if code := c.wait(t); code != 143 {
		t.Fatalf("exit %d, want 143; %v %s", code, c.raw, c.stderr)
	}
	e, _ := lines[len(lines)-1]["error"].(map[string]any)
	if e["kind"] != "cancelled" || !strings.Contains(e["message"].(string), "parent went away") || e["ads_job_id"] != s.Jobs()[0].JobID {
		t.Fatalf("final line %v", lines[len(lines)-1])
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); !os.IsNotExist(err) {
		t.Fatalf("object committed: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
		t.Fatalf("%d staging files left", len(ents))
	}
}

func TestParentGoneDuringDownloadRemovesThePartial(t *testing.T) {
	_, base := startStub(t, stub.Options{DownloadBytesPerSec: 4000})
	dir := t.TempDir()
	c := start(t, nil, args(base, dir, "--attempt", attempt)...)
	c.send(t, inputLine(true))
	c.until(t, func(m map[string]any) bool { return m["phase"] == "download" })
	waitForPartial(t, dir)
	c.stdin.Close()
	if code := c.wait(t); code != 143 {
		t.Fatalf("exit %d, want 143; %s", code, c.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
		t.Fatalf("%d staging files left", len(ents))
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); !os.IsNotExist(err) {
		t.Fatalf("object committed: %v", err)
	}
}

func waitForPartial(t *testing.T, dir string) string {
	t.Helper()
	for i := 0; i < 400; i++ {
		if m, _ := filepath.Glob(filepath.Join(dir, ".partial", attempt+".upload-*")); len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 0 {
				return m[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no partial upload named by the attempt appeared")
	return ""
}

func TestKilledChildLeavesItsPartialNamedByTheAttempt(t *testing.T) {
	_, base := startStub(t, stub.Options{DownloadBytesPerSec: 4000})
	dir := t.TempDir()
	c := start(t, nil, args(base, dir, "--attempt", attempt)...)
	c.send(t, inputLine(true))
	c.until(t, func(m map[string]any) bool { return m["phase"] == "download" })
	p := waitForPartial(t, dir)
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait(t)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("partial %s gone after SIGKILL: %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); !os.IsNotExist(err) {
		t.Fatalf("object committed: %v", err)
	}
}

func TestResumeThroughTheBinary(t *testing.T) {
	s, base := startStub(t, stub.Options{})
	dir := t.TempDir()
	first := start(t, []string{"ADS_API_KEY=" + apiKey}, args(base, dir)...)
	first.send(t, inputLine(false))
	lines := first.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := first.wait(t); code != 0 {
		t.Fatalf("first run exit %d %v", code, first.raw)
	}
	job := lines[len(lines)-1]["ads_job_id"].(string)
	again := start(t, nil, args(base, dir, "--resume-job", job)...)
	again.send(t, inputLine(true))
	lines = again.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := again.wait(t); code != 0 {
		t.Fatalf("resume exit %d %v %s", code, again.raw, again.stderr)
	}
	var seq []string
	for _, m := range lines {
		seq = append(seq, event(m))
	}
	final := lines[len(lines)-1]
	if strings.Join(seq, " ") != "submitted:resumed phase:poll phase:adopt final" || final["adopted"] != true || final["ads_job_id"] != job {
		t.Fatalf("resume lines %v", again.raw)
	}
	if len(s.Jobs()) != 1 {
		t.Fatalf("%d jobs upstream", len(s.Jobs()))
	}
}

func TestRequestFileStillWorks(t *testing.T) {
	_, base := startStub(t, stub.Options{})
	dir := t.TempDir()
	rf := filepath.Join(t.TempDir(), "req.json")
	os.WriteFile(rf, []byte(request), 0o600)
	a := args(base, dir)
	for i, v := range a {
		if v == "--input" {
			a[i], a[i+1] = "--request-file", rf
		}
	}
	c := start(t, []string{"ADS_API_KEY=" + apiKey}, a...)
	c.stdin.Close() // not watched with --request-file
	lines := c.until(t, nil)
	if code := c.wait(t); code != 0 || lines[len(lines)-1]["sha256"] == nil {
		t.Fatalf("exit %d %v", code, c.raw)
	}
}

func TestUsageErrorsBeforeAnyNetworkCall(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		msg  string
	}{
		{"no scheme", args("ads.example/api", dir), nil, "scheme must be http or https"},
		{"ftp", args("ftp://ads.example/api", dir), nil, "scheme must be http or https"},
		{"no host", args("https:///api", dir), nil, "has no host"},
		{"port 0", args("http://127.0.0.1:0/api", dir), nil, "not in 1..65535"},
		{"port 70000", args("http://127.0.0.1:70000/api", dir), nil, "not in 1..65535"},
		{"empty port", args("http://127.0.0.1:/api", dir), nil, "not in 1..65535"},
		{"unparsable", args("http://[::1/api", dir), nil, "does not parse"},
		{"user info", args("https://user:pw@ads.example/api", dir), nil, "user information"},
		{"bad attempt", args("http://127.0.0.1:9/api", dir, "--attempt", "0190A3B2-7C4D-7E8F-9A0B-1C2D3E4F5A6C"), nil, "--attempt must be a lowercase"},
		{"bad resume job", args("http://127.0.0.1:9/api", dir, "--resume-job", "../x"), nil, "--resume-job must be"},
		{"both inputs", append(args("http://127.0.0.1:9/api", dir), "--request-file", "x"), nil, "exactly one of"},
		{"both retry budgets", args("http://127.0.0.1:9/api", dir, "--max-retries", "3", "--max-tries", "4"), nil, "not both"},
		{"negative retries", args("http://127.0.0.1:9/api", dir, "--max-retries", "-1"), nil, "--max-retries must be >= 0"},
		{"negative queue deadline", args("http://127.0.0.1:9/api", dir, "--queue-deadline", "-1s"), nil, "--queue-deadline >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, tc.env, tc.args...)
			c.stdin.Close()
			lines := c.until(t, nil)
			if code := c.wait(t); code != 2 {
				t.Fatalf("exit %d, want 2: %v", code, c.raw)
			}
			e, _ := lines[len(lines)-1]["error"].(map[string]any)
			if e["kind"] != "usage" || !strings.Contains(e["message"].(string), tc.msg) {
				t.Fatalf("error %v, want message containing %q", e, tc.msg)
			}
			if strings.Contains(e["message"].(string), "pw@") {
				t.Fatal("password echoed")
			}
		})
	}
	// The key never appears in a refusal of a malformed input line.
	c := start(t, nil, args("http://127.0.0.1:9/api", dir)...)
	c.send(t, `{"request": 1, "api_key": "`+apiKey+`"}`)
	lines := c.until(t, nil)
	if code := c.wait(t); code != 2 || strings.Contains(strings.Join(c.raw, ""), apiKey) || lines[0]["error"] == nil {
		t.Fatalf("exit %d lines %v", code, c.raw)
	}
}

func TestUnwritableSinkIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".partial"), nil, 0o644) // staging dir impossible, even for root
	_, base := startStub(t, stub.Options{})
	c := start(t, nil, args(base, dir)...)
	c.send(t, inputLine(true))
	lines := c.until(t, nil)
	if code := c.wait(t); code != 6 {
		t.Fatalf("exit %d %v", code, c.raw)
	}
	e, _ := lines[len(lines)-1]["error"].(map[string]any)
	if e["kind"] != "unavailable" || !strings.Contains(e["message"].(string), "raw sink is not writable") {
		t.Fatalf("error %v", e)
	}
}

// withSink replaces --sink-dir DIR in a by --sink URL.
func withSink(a []string, sinkURL string) []string {
	out := append([]string(nil), a...)
	for i, v := range out {
		if v == "--sink-dir" {
			out[i], out[i+1] = "--sink", sinkURL
		}
	}
	return out
}

// bigRequest is a full-domain request of about 7 MB: more than one 5 MiB part.
const bigRequest = `{"variable":["ozone"],"model":["ensemble"],"level":["0"],"date":["2025-01-01"],"type":["forecast"],` +
	`"time":["00:00"],"leadtime_hour":["0","1","2","3","4","5","6","7","8","9","10","11"],"data_format":"grib"}`

func s3Line(req, access, secret string) string {
	return `{"request":` + req + `,"api_key":"` + apiKey + `","s3":{"access_key":"` + access + `","secret_key":"` + secret + `"}}`
}

func TestS3SinkEndToEndWithCredentialsOnStdin(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	s, base := startStub(t, stub.Options{})
	sinkURL := "s3://" + bucket + "?endpoint=" + url.QueryEscape(env.Endpoint) + "&region=us-east-1&part_size=5242880"
	c := start(t, nil, withSink(args(base, t.TempDir(), "--attempt", attempt), sinkURL)...)
	c.send(t, s3Line(bigRequest, env.AccessKey, env.SecretKey))
	lines := c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	final := lines[len(lines)-1]
	cl := env.Client(t)
	obj := s3test.Get(t, cl, bucket, key)
	sum := sha256.Sum256(obj)
	if final["sha256"] != hex.EncodeToString(sum[:]) || final["size"] != float64(len(obj)) || final["key"] != key {
		t.Fatalf("manifest %v, object %d bytes sha256 %x", final, len(obj), sum)
	}
	if asset := s.Jobs()[0].Asset; asset == nil || asset.SHA256 != hex.EncodeToString(sum[:]) || len(obj) <= 5<<20 {
		t.Fatalf("object (%d bytes) is not the stub's product %+v, or not multipart-sized", len(obj), asset)
	}
	if a, _ := s3test.Meta(t, cl, bucket, key, sink.AttemptMeta); a != attempt {
		t.Fatalf("attempt metadata %q, want %q", a, attempt)
	}
	if ups := s3test.Uploads(t, cl, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads left: %+v", ups)
	}
	everything := strings.Join(c.cmd.Args, " ") + strings.Join(c.cmd.Env, " ") + strings.Join(c.raw, "\n") + c.stderr.String()
	for _, secret := range []string{env.SecretKey, env.AccessKey, apiKey} {
		if strings.Contains(everything, secret) {
			t.Fatal("a credential appears in argv, the environment, stdout or stderr")
		}
	}

	// A second run at the same key is refused before anything is submitted.
	again := start(t, nil, withSink(args(base, t.TempDir()), sinkURL)...)
	again.send(t, s3Line(strings.ReplaceAll(request, "\n", ""), env.AccessKey, env.SecretKey))
	lines = again.until(t, nil)
	if code := again.wait(t); code != 4 {
		t.Fatalf("second run exit %d, want 4: %v", code, again.raw)
	}
	if len(s.Jobs()) != 1 {
		t.Fatalf("%d jobs upstream", len(s.Jobs()))
	}
}

func TestS3CredentialsFromTheEnvironment(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	_, base := startStub(t, stub.Options{})
	sinkURL := "s3://" + bucket + "?endpoint=" + url.QueryEscape(env.Endpoint)
	c := start(t, []string{"AWS_ACCESS_KEY_ID=" + env.AccessKey, "AWS_SECRET_ACCESS_KEY=" + env.SecretKey},
		withSink(args(base, t.TempDir()), sinkURL)...)
	c.send(t, inputLine(true))
	lines := c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	obj := s3test.Get(t, env.Client(t), bucket, key)
	if sum := sha256.Sum256(obj); lines[len(lines)-1]["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("manifest %v", lines[len(lines)-1])
	}
}

func TestS3WrongCredentialsAreUnavailableAndNotEchoed(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	s, base := startStub(t, stub.Options{})
	const wrong = "wrong-secret-Qk29vXz"
	sinkURL := "s3://" + bucket + "?endpoint=" + url.QueryEscape(env.Endpoint)
	c := start(t, nil, withSink(args(base, t.TempDir()), sinkURL)...)
	c.send(t, s3Line(strings.ReplaceAll(request, "\n", ""), env.AccessKey, wrong))
	lines := c.until(t, nil)
	if code := c.wait(t); code != 6 {
		t.Fatalf("exit %d, want 6: %v %s", code, c.raw, c.stderr)
	}
	e, _ := lines[len(lines)-1]["error"].(map[string]any)
	u, _ := url.Parse(env.Endpoint)
	msg, _ := e["message"].(string)
	if e["kind"] != "unavailable" || !strings.Contains(msg, "not writable") || !strings.Contains(msg, u.Host) || !strings.Contains(msg, bucket) {
		t.Fatalf("error %v", e)
	}
	if strings.Contains(strings.Join(c.raw, "\n")+c.stderr.String(), wrong) {
		t.Fatal("the secret key was echoed")
	}
	if len(s.Jobs()) != 0 {
		t.Fatal("a job was submitted although the sink is unusable")
	}
}

// Sink URL mistakes are usage errors (exit 2) before any network call, and never echo a secret.
func TestSinkURLUsageErrors(t *testing.T) {
	const secret = "Sup3rS3cretValue"
	dir := t.TempDir()
	base := "http://127.0.0.1:9/api"
	ep := "endpoint=http://127.0.0.1:9"
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		line string
		msg  string
	}{
		{"user info", withSink(args(base, dir), "s3://AKIAX:"+secret+"@raw?"+ep), nil, "", "user information"},
		{"secret param", withSink(args(base, dir), "s3://raw?"+ep+"&secret_key="+secret), nil, "", "credentials never go in the URL"},
		{"access param", withSink(args(base, dir), "s3://raw?"+ep+"&aws_access_key_id="+secret), nil, "", "credentials never go in the URL"},
		{"unknown param", withSink(args(base, dir), "s3://raw?"+ep+"&bogus="+secret), nil, "", `unknown sink URL query parameter "bogus"`},
		{"no endpoint", withSink(args(base, dir), "s3://raw"), nil, "", "no endpoint"},
		{"bad scheme", withSink(args(base, dir), "gs://raw"), nil, "", "scheme must be file or s3"},
		{"relative file", withSink(args(base, dir), "file://rel/dir"), nil, "", "file:///ABS/DIR"},
		{"both sinks", append(withSink(args(base, dir), "file://"+dir), "--sink-dir", dir), nil, "", "exactly one of --sink URL and --sink-dir"},
		{"no sink", withSink(args(base, dir), ""), nil, "", "exactly one of --sink URL and --sink-dir"},
		{"no credentials", withSink(args(base, dir), "s3://raw?"+ep), nil, inputLine(true), "no S3 credentials"},
		{"half credentials", withSink(args(base, dir), "s3://raw?"+ep), []string{"AWS_ACCESS_KEY_ID=x"}, inputLine(true), "no S3 credentials"},
		{"empty s3 secret", withSink(args(base, dir), "s3://raw?"+ep), nil, s3Line(strings.ReplaceAll(request, "\n", ""), secret, ""), `"s3" needs non-empty`},
		{"s3 not an object", withSink(args(base, dir), "s3://raw?"+ep), nil, `{"request":{"a":1},"s3":"` + secret + `"}`, "must be one JSON object"},
		{"missing ca bundle", withSink(args(base, dir), "s3://raw?endpoint=https://127.0.0.1:9&ca_bundle=/nonexistent/ca.pem"),
			[]string{"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b"}, inputLine(true), "ca_bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, append([]string{"ADS_API_KEY=" + apiKey}, tc.env...), tc.args...)
			if tc.line != "" {
				c.send(t, tc.line)
			}
			c.stdin.Close()
			lines := c.until(t, nil)
			if code := c.wait(t); code != 2 {
				t.Fatalf("exit %d, want 2: %v %s", code, c.raw, c.stderr)
			}
			e, _ := lines[len(lines)-1]["error"].(map[string]any)
			if e["kind"] != "usage" || !strings.Contains(e["message"].(string), tc.msg) {
				t.Fatalf("error %v, want message containing %q", e, tc.msg)
			}
			if strings.Contains(strings.Join(c.raw, "\n")+c.stderr.String(), secret) {
				t.Fatal("the secret was echoed")
			}
		})
	}
}

func TestFileSinkURLIsTheSinkDir(t *testing.T) {
	_, base := startStub(t, stub.Options{})
	dir := t.TempDir()
	c := start(t, nil, withSink(args(base, dir, "--attempt", attempt), "file://"+dir)...)
	c.send(t, inputLine(true))
	c.until(t, func(m map[string]any) bool { return m["event"] == nil })
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d: %v %s", code, c.raw, c.stderr)
	}
	if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); err != nil || st.Mode().Perm() != 0o444 {
		t.Fatalf("committed object %v %v", st, err)
	}
}

func TestS3ParentGoneDuringDownloadAbortsTheMultipartUpload(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	_, base := startStub(t, stub.Options{DownloadBytesPerSec: 4 << 20})
	sinkURL := "s3://" + bucket + "?endpoint=" + url.QueryEscape(env.Endpoint) + "&part_size=5242880"
	c := start(t, nil, withSink(args(base, t.TempDir(), "--attempt", attempt), sinkURL)...)
	c.send(t, s3Line(bigRequest, env.AccessKey, env.SecretKey))
	c.until(t, func(m map[string]any) bool { return m["phase"] == "download" })
	cl := env.Client(t)
	for i := 0; len(s3test.Uploads(t, cl, bucket, key)) == 0; i++ {
		if i == 400 {
			t.Fatal("no multipart upload started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.stdin.Close()
	if code := c.wait(t); code != 143 {
		t.Fatalf("exit %d, want 143; %s", code, c.stderr)
	}
	if ups := s3test.Uploads(t, cl, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads left: %+v", ups)
	}
	if l := s3list(t, env, bucket); len(l) != 0 {
		t.Fatalf("objects committed: %v", l)
	}
}

func s3list(t *testing.T, env s3test.Env, bucket string) []string {
	t.Helper()
	cfg := env.Config(bucket)
	s, err := sink.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The defaults in the protocol doc's flag table (which jackfruit's AdsTuning mirrors) are the binary's.
func TestFlagDefaultsMatchTheProtocolDoc(t *testing.T) {
	b, err := os.ReadFile("../../../docs/ingester-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]string{}
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
			name := strings.Fields(strings.Trim(strings.TrimSpace(cells[1]), "`"))[0]
			if def := strings.Fields(cells[2]); len(def) > 0 {
				doc[strings.TrimPrefix(name, "--")] = strings.Trim(def[0], "`")
			}
		}
	}
	c := start(t, nil, "--help")
	c.stdin.Close()
	var help strings.Builder
	for {
		m, ok := <-c.lines
		if !ok {
			break
		}
		help.WriteString(fmt.Sprint(m["unparsed"]) + "\n")
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	defaults := map[string]string{}
	re := regexp.MustCompile(`(?m)^  -([a-z-]+) \S+\n\s+.*\(default ([^)]+)\)$`)
	for _, m := range re.FindAllStringSubmatch(help.String(), -1) {
		defaults[m[1]] = m[2]
	}
	checked := 0
	for _, name := range []string{"timeout", "poll-initial", "poll-max", "queue-deadline", "max-retries", "max-tries", "retry-after"} {
		want, got := doc[name], defaults[name]
		if got == "" && name == "queue-deadline" {
			got = "0s" // flag omits a zero default
		}
		wd, err1 := time.ParseDuration(want)
		gd, err2 := time.ParseDuration(got)
		if !(err1 == nil && err2 == nil && wd == gd) && want != got {
			t.Errorf("--%s: doc default %q, binary %q", name, want, got)
		}
		checked++
	}
	if checked != 7 || len(defaults) < 6 {
		t.Fatalf("parsed defaults %v, doc %v", defaults, doc)
	}
}
