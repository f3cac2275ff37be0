package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

const (
	apiKey = "00000000-test-key"
	key    = "ads/cams-europe-air-quality-forecasts/2025-01-01/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"
)

// A 2-message request on a 100x50 sub-grid: ~20 KB, big enough for a mid-body truncation.
const request = `{"variable":["ozone"],"model":["ensemble"],"level":["0"],"date":["2025-01-01"],"type":["forecast"],
"time":["00:00"],"leadtime_hour":["0","1"],"data_format":"grib","area":[60,0,55,10]}`

type env struct {
	stub    *stub.Server
	srv     *httptest.Server
	mu      sync.Mutex
	sleeps  []time.Duration
	onSleep func()
}

func newEnv(t *testing.T, o stub.Options) *env {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = apiKey
	}
	o.WorkDir = t.TempDir()
	s, err := stub.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stub: s, srv: httptest.NewServer(s.Handler())}
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) config(sk sink.Sink) ingest.Config {
	return ingest.Config{
		BaseURL: e.srv.URL + "/api", ProcessID: cams.Dataset, Key: key, APIKey: apiKey,
		Inputs: json.RawMessage(request), Sink: sk, Timeout: 20 * time.Second,
		PollInitial: time.Millisecond, PollMax: 4 * time.Millisecond, MaxTries: 4, RetryAfterMax: 30 * time.Second,
		// Record instead of sleeping: keeps tests fast and lets them assert exact delays.
		Sleep: func(ctx context.Context, d time.Duration) error {
			e.mu.Lock()
			e.sleeps = append(e.sleeps, d)
			f := e.onSleep
			e.mu.Unlock()
			if f != nil {
				f()
			}
			return ctx.Err()
		},
	}
}

func fsSink(t *testing.T) (*sink.FS, string) {
	dir := t.TempDir()
	s, err := sink.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func assertCommitted(t *testing.T, dir string, m *ingest.Manifest, e *env) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != int64(len(b)) {
		t.Fatalf("manifest sha/size %s/%d, file %x/%d", m.SHA256, m.Size, sum, len(b))
	}
	jobs := e.stub.Jobs()
	if len(jobs) != 1 || jobs[0].Asset == nil || jobs[0].Asset.SHA256 != m.SHA256 || jobs[0].JobID != m.ADSJobID {
		t.Fatalf("stub jobs %+v vs manifest %+v", jobs, m)
	}
	assertNoPartial(t, dir)
}

func assertNoPartial(t *testing.T, dir string) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
		t.Fatalf("%d staging files left behind", len(ents))
	}
}

func assertNothingCommitted(t *testing.T, s sink.Sink) {
	t.Helper()
	if l, _ := s.List(context.Background(), ""); len(l) != 0 {
		t.Fatalf("committed objects: %v", l)
	}
}

func wantErr(t *testing.T, err error, kind ingest.Kind, exit, status int, msg string) *ingest.Error {
	t.Helper()
	var e *ingest.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *ingest.Error, got %v", err)
	}
	if e.Kind != kind || ingest.ExitCode(e) != exit || e.HTTPStatus != status || !strings.Contains(e.Message, msg) {
		t.Fatalf("got kind %s exit %d status %d msg %q; want %s %d %d containing %q",
			e.Kind, ingest.ExitCode(e), e.HTTPStatus, e.Message, kind, exit, status, msg)
	}
	if strings.Contains(e.Message, apiKey) {
		t.Fatal("API key leaked into the error message")
	}
	return e
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 2, RunningPolls: 1})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e)
	j := e.stub.Jobs()[0]
	var hist []string
	for _, h := range j.History {
		hist = append(hist, h.Status)
	}
	if strings.Join(hist, ",") != "accepted,running,successful" {
		t.Fatalf("history %v", hist)
	}
	if m.Polls != 4 || m.Retries != 0 || m.Resumes != 0 || j.SubmitCount != 1 || j.DownloadCount != 1 {
		t.Fatalf("polls %d retries %d resumes %d submits %d downloads %d", m.Polls, m.Retries, m.Resumes, j.SubmitCount, j.DownloadCount)
	}
	if m.ContentType != "application/x-grib" || m.ADSFileSize != m.Size || m.Size != 2*(16+21+72+36+21+6+5+4+100*50*2) {
		t.Fatalf("manifest %+v", m)
	}
	if _, err := time.Parse(time.RFC3339, m.SubmittedAt); err != nil || !strings.HasSuffix(m.FinishedAt, "Z") {
		t.Fatalf("timestamps %q %q", m.SubmittedAt, m.FinishedAt)
	}
	// Poll backoff: 1ms ×1.5 capped at 4ms.
	want := []time.Duration{time.Millisecond, 1500 * time.Microsecond, 2250 * time.Microsecond}
	for i, d := range want {
		if e.sleeps[i] != d {
			t.Fatalf("sleeps %v, want prefix %v", e.sleeps, want)
		}
	}
}

func TestMemorySinkAndRelativeHref(t *testing.T) {
	e := newEnv(t, stub.Options{RelativeHref: true})
	mem := sink.NewMemory()
	m, err := ingest.Run(context.Background(), e.config(mem))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := mem.Get(key)
	sum := sha256.Sum256(b)
	if !ok || hex.EncodeToString(sum[:]) != m.SHA256 {
		t.Fatal("memory sink content does not match manifest")
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		opts   stub.Options
		mutate func(*ingest.Config)
		kind   ingest.Kind
		status int
		msg    string
	}{
		{"400 invalid", stub.Options{}, func(c *ingest.Config) {
			c.Inputs = json.RawMessage(strings.Replace(request, `"level":["0"]`, `"level":["42"]`, 1))
		}, ingest.KindInvalidRequest, 400, `invalid request: invalid value for "level": "42"`},
		{"401 bad key", stub.Options{}, func(c *ingest.Config) { c.APIKey = "wrong" }, ingest.KindAuth, 401, "Authentication failed"},
		{"403 licence", stub.Options{RequireLicence: true}, nil, ingest.KindAuth, 403, "required licences not accepted"},
		{"404 dataset", stub.Options{}, func(c *ingest.Config) { c.ProcessID = "no-such-dataset" }, ingest.KindNotFound, 404, "process no-such-dataset not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			s, _ := fsSink(t)
			c := e.config(s)
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			_, err := ingest.Run(context.Background(), c)
			wantErr(t, err, tc.kind, map[ingest.Kind]int{ingest.KindInvalidRequest: 2, ingest.KindAuth: 7, ingest.KindNotFound: 3}[tc.kind], tc.status, tc.msg)
			assertNothingCommitted(t, s)
			if len(e.stub.Jobs()) != 0 {
				t.Fatal("a job was created")
			}
		})
	}
}

func TestJobFailed(t *testing.T) {
	e := newEnv(t, stub.Options{FailJobs: true})
	s, dir := fsSink(t)
	_, err := ingest.Run(context.Background(), e.config(s))
	ie := wantErr(t, err, ingest.KindJobFailed, 7, 0, "The job has failed: Error: injected failure")
	if ie.JobID == "" || ie.JobID != e.stub.Jobs()[0].JobID {
		t.Fatalf("job id %q", ie.JobID)
	}
	assertNothingCommitted(t, s)
	assertNoPartial(t, dir)
}

func TestJobDismissedMidPoll(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 3})
	s, _ := fsSink(t)
	e.onSleep = func() {
		e.onSleep = nil
		id := e.stub.Jobs()[0].JobID
		req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/api/retrieve/v1/jobs/"+id, nil)
		req.Header.Set("PRIVATE-TOKEN", apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("delete: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	_, err := ingest.Run(context.Background(), e.config(s))
	wantErr(t, err, ingest.KindJobFailed, 7, 404, "disappeared while polling")
}

func TestSubmit503Retried(t *testing.T) {
	e := newEnv(t, stub.Options{FailFirstSubmit: 503})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e)
	if m.Retries != 1 || e.stub.Jobs()[0].SubmitCount != 2 || len(e.stub.Jobs()) != 1 {
		t.Fatalf("retries %d, jobs %+v", m.Retries, e.stub.Jobs())
	}
	if e.sleeps[0] != time.Millisecond { // no Retry-After: backoff from --poll-initial
		t.Fatalf("first retry delay %v", e.sleeps[0])
	}
}

func TestRetriesExhausted(t *testing.T) {
	e := newEnv(t, stub.Options{FailFirstSubmit: 502})
	s, _ := fsSink(t)
	c := e.config(s)
	c.MaxTries = 1
	_, err := ingest.Run(context.Background(), c)
	wantErr(t, err, ingest.KindUnavailable, 6, 502, "submit failed after 1 tries: HTTP 502")
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	e := newEnv(t, stub.Options{RateLimitFirstPoll: 7})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e)
	if e.sleeps[0] != 7*time.Second || m.Retries != 1 {
		t.Fatalf("sleeps %v retries %d; want first 7s", e.sleeps, m.Retries)
	}
	// And the cap applies.
	e2 := newEnv(t, stub.Options{RateLimitFirstPoll: 7})
	s2, _ := fsSink(t)
	c := e2.config(s2)
	c.RetryAfterMax = 2 * time.Second
	if _, err := ingest.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if e2.sleeps[0] != 2*time.Second {
		t.Fatalf("capped delay %v", e2.sleeps[0])
	}
}

func TestTruncatedDownloadResumedWithRange(t *testing.T) {
	e := newEnv(t, stub.Options{TruncateDownloadOnce: 7000})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e)
	if m.Resumes != 1 || m.Retries != 1 || e.stub.Jobs()[0].DownloadCount != 2 {
		t.Fatalf("resumes %d retries %d downloads %d", m.Resumes, m.Retries, e.stub.Jobs()[0].DownloadCount)
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	e := newEnv(t, stub.Options{TruncateDownloadOnce: 7000, IgnoreRange: true})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e) // the hash was reset: it matches the whole file
	if m.Resumes != 0 || m.Retries != 1 || e.stub.Jobs()[0].DownloadCount != 2 {
		t.Fatalf("resumes %d retries %d", m.Resumes, m.Retries)
	}
}

func TestSizeMismatchIsIntegrityAndNothingCommitted(t *testing.T) {
	for _, delta := range []int64{+10, -10} {
		e := newEnv(t, stub.Options{SizeDelta: delta})
		s, dir := fsSink(t)
		_, err := ingest.Run(context.Background(), e.config(s))
		wantErr(t, err, ingest.KindIntegrity, 5, 0, "nothing committed")
		assertNothingCommitted(t, s)
		assertNoPartial(t, dir)
	}
}

func TestKeyExistsConflictWithoutSubmit(t *testing.T) {
	e := newEnv(t, stub.Options{})
	s, _ := fsSink(t)
	u, _ := s.Create(context.Background(), key)
	u.Write([]byte("earlier run"))
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := ingest.Run(context.Background(), e.config(s))
	wantErr(t, err, ingest.KindConflict, 4, 0, "already exists")
	if n := len(e.stub.Jobs()); n != 0 {
		t.Fatalf("%d jobs submitted despite conflict", n)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 1 << 30})
	s, _ := fsSink(t)
	c := e.config(s)
	c.Sleep = nil // real sleeping so the deadline passes
	c.Timeout = 150 * time.Millisecond
	c.PollInitial, c.PollMax = 5*time.Millisecond, 20*time.Millisecond
	_, err := ingest.Run(context.Background(), c)
	ie := wantErr(t, err, ingest.KindUnavailable, 6, 0, "timed out")
	if ie.JobID == "" {
		t.Fatal("job id missing from timeout error")
	}
}

func TestCancelled(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 1 << 30})
	s, _ := fsSink(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := e.config(s)
	n := 0
	e.onSleep = func() {
		if n++; n == 3 {
			cancel()
		}
	}
	_, err := ingest.Run(ctx, c)
	ie := wantErr(t, err, ingest.KindCancelled, 130, 0, "cancelled")
	ie.Signal = 15
	if ingest.ExitCode(ie) != 143 {
		t.Fatal("SIGTERM must map to 143")
	}
	assertNothingCommitted(t, s)
}

func TestExitCodes(t *testing.T) {
	// The jackfruit CLI's codes (jackfruit/domain/errors.py): see also TestKindsMatchTheProtocolDoc.
	for k, want := range map[ingest.Kind]int{
		ingest.KindUsage: 2, ingest.KindInvalidRequest: 2, ingest.KindNotFound: 3, ingest.KindConflict: 4,
		ingest.KindIntegrity: 5, ingest.KindUnavailable: 6, ingest.KindInternal: 6, ingest.KindAuth: 7,
		ingest.KindJobFailed: 7, ingest.KindExpired: 8,
	} {
		if got := ingest.ExitCode(&ingest.Error{Kind: k}); got != want {
			t.Errorf("%s: exit %d, want %d", k, got, want)
		}
	}
	if ingest.ExitCode(errors.New("x")) != 1 || ingest.ExitCode(nil) != 0 {
		t.Fatal("non-classified errors")
	}
}

// recorder collects events as "phase:x" / "submitted:id:status".
type recorder struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorder) on(ev ingest.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Event {
	case ingest.EventPhase:
		r.evs = append(r.evs, "phase:"+ev.Phase)
	case ingest.EventSubmitted:
		ev2 := "submitted:" + ev.ADSJobID + ":" + ev.Status
		if ev.Replaces != "" {
			ev2 += ":replaces:" + ev.Replaces
		}
		r.evs = append(r.evs, ev2)
	default:
		r.evs = append(r.evs, "?"+ev.Event)
	}
}

func (r *recorder) String() string { r.mu.Lock(); defer r.mu.Unlock(); return strings.Join(r.evs, " ") }

// runRecorded runs the ingester with c, recording its events.
func runRecorded(c ingest.Config) (*ingest.Manifest, *recorder, error) {
	rec := &recorder{}
	c.OnEvent = rec.on
	m, err := ingest.Run(context.Background(), c)
	return m, rec, err
}

func TestEventsInOrder(t *testing.T) {
	e := newEnv(t, stub.Options{})
	s, dir := fsSink(t)
	c := e.config(s)
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e)
	want := "phase:submit submitted:" + m.ADSJobID + ":accepted phase:poll phase:download phase:commit"
	if rec.String() != want || m.Adopted {
		t.Fatalf("events %q\nwant   %q (adopted %v)", rec.String(), want, m.Adopted)
	}
}

func TestSubmittedEventBeforeAFailure(t *testing.T) {
	e := newEnv(t, stub.Options{FailJobs: true})
	s, _ := fsSink(t)
	c := e.config(s)
	_, rec, err := runRecorded(c)
	ie := wantErr(t, err, ingest.KindJobFailed, 7, 0, "injected failure")
	if rec.String() != "phase:submit submitted:"+ie.JobID+":accepted phase:poll" {
		t.Fatalf("events %q", rec.String())
	}
}

// submitOnly creates a job on the stub without the ingester (a run that died after the submit).
func (e *env) submitOnly(t *testing.T) string {
	t.Helper()
	return e.submitInputs(t, request)
}

// submitInputs creates a job of these inputs (a JSON object) on the stub, as another client would.
func (e *env) submitInputs(t *testing.T, inputs string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/retrieve/v1/processes/"+cams.Dataset+"/execution",
		strings.NewReader(`{"inputs":`+inputs+`}`))
	req.Header.Set("PRIVATE-TOKEN", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ JobID string }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 201 {
		t.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	return st.JobID
}

func TestResumeFollowsTheJobWithoutSubmitting(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 2})
	id := e.submitOnly(t)
	s, dir := fsSink(t)
	c := e.config(s)
	c.ResumeJobID = id
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, dir, m, e) // exactly one job upstream, and it is ours
	if m.ADSJobID != id || m.Adopted || e.stub.Jobs()[0].SubmitCount != 1 {
		t.Fatalf("manifest %+v, jobs %+v", m, e.stub.Jobs())
	}
	if want := "submitted:" + id + ":resumed phase:poll phase:download phase:commit"; rec.String() != want {
		t.Fatalf("events %q, want %q", rec.String(), want)
	}
}

func TestResumeUnknownJobIsJobFailed(t *testing.T) {
	e := newEnv(t, stub.Options{})
	s, dir := fsSink(t)
	c := e.config(s)
	c.ResumeJobID = "00000000-0000-4000-8000-000000000000"
	_, err := ingest.Run(context.Background(), c)
	ie := wantErr(t, err, ingest.KindJobFailed, 7, 404, "not found upstream")
	if ie.JobID != c.ResumeJobID || len(e.stub.Jobs()) != 0 {
		t.Fatalf("job id %q, jobs %v", ie.JobID, e.stub.Jobs())
	}
	assertNothingCommitted(t, s)
	assertNoPartial(t, dir)
}

func TestResumeAdoptsTheObjectAnEarlierAttemptCommitted(t *testing.T) {
	e := newEnv(t, stub.Options{})
	s, dir := fsSink(t)
	first, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	c := e.config(s)
	c.ResumeJobID = first.ADSJobID
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Adopted || m.SHA256 != first.SHA256 || m.Size != first.Size || m.ADSFileSize != first.Size || m.ADSJobID != first.ADSJobID {
		t.Fatalf("adopted manifest %+v vs first %+v", m, first)
	}
	if want := "submitted:" + first.ADSJobID + ":resumed phase:poll phase:adopt"; rec.String() != want {
		t.Fatalf("events %q, want %q", rec.String(), want)
	}
	j := e.stub.Jobs()
	if len(j) != 1 || j[0].DownloadCount != 1 {
		t.Fatalf("jobs %+v: adopting must neither submit nor download", j)
	}
	assertNoPartial(t, dir)
	// Without --resume-job the same object is still a conflict.
	_, err = ingest.Run(context.Background(), e.config(s))
	wantErr(t, err, ingest.KindConflict, 4, 0, "already exists")
}

func TestAdoptSizeMismatchIsIntegrityAndChangesNothing(t *testing.T) {
	e := newEnv(t, stub.Options{})
	id := e.submitOnly(t)
	mem := sink.NewMemory()
	if err := mem.Put(key, []byte("not the product")); err != nil {
		t.Fatal(err)
	}
	c := e.config(mem)
	c.ResumeJobID = id
	_, err := ingest.Run(context.Background(), c)
	ie := wantErr(t, err, ingest.KindIntegrity, 5, 0, "not adopted, nothing changed")
	if ie.JobID != id {
		t.Fatalf("job id %q", ie.JobID)
	}
	if b, _ := mem.Get(key); string(b) != "not the product" {
		t.Fatalf("object changed: %q", b)
	}
	if e.stub.Jobs()[0].DownloadCount != 0 {
		t.Fatal("downloaded although the object was there")
	}
}

// racingSink commits `other` at the key as soon as the real download starts (a concurrent attempt).
type racingSink struct {
	*sink.Memory
	other []byte
	n     int
}

func (r *racingSink) Create(ctx context.Context, k string) (sink.Upload, error) {
	r.n++
	if r.n == 2 { // the first Create is the writability probe
		if err := r.Memory.Put(k, r.other); err != nil {
			return nil, err
		}
	}
	return r.Memory.Create(ctx, k)
}

func TestResumeAdoptsWhenTheObjectAppearsDuringTheDownload(t *testing.T) {
	e := newEnv(t, stub.Options{})
	// The product's bytes, from a first run into a scratch sink.
	scratch := sink.NewMemory()
	first, err := ingest.Run(context.Background(), e.config(scratch))
	if err != nil {
		t.Fatal(err)
	}
	product, _ := scratch.Get(key)

	for _, tc := range []struct {
		name  string
		other []byte
		kind  ingest.Kind
	}{
		{"same bytes adopted", product, ""},
		{"other bytes of the same size refused", bytes.Repeat([]byte("x"), len(product)), ingest.KindIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &racingSink{Memory: sink.NewMemory(), other: tc.other}
			c := e.config(rs)
			c.ResumeJobID = first.ADSJobID
			m, err := ingest.Run(context.Background(), c)
			if tc.kind == "" {
				if err != nil || !m.Adopted || m.SHA256 != first.SHA256 {
					t.Fatalf("err %v manifest %+v", err, m)
				}
				return
			}
			wantErr(t, err, tc.kind, 5, 0, "differs from job")
			if b, _ := rs.Get(key); !bytes.Equal(b, tc.other) {
				t.Fatal("object changed")
			}
		})
	}
}

// brokenSink cannot stage uploads (a read-only or full raw bucket).
type brokenSink struct{ *sink.Memory }

func (brokenSink) Create(context.Context, string) (sink.Upload, error) {
	return nil, errors.New("read-only file system")
}

func TestUnwritableSinkFailsBeforeAnyHTTPCall(t *testing.T) {
	e := newEnv(t, stub.Options{})
	var hits atomic.Int32
	inner := e.srv.Config.Handler
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); inner.ServeHTTP(w, r) })

	fsRO, dir := fsSink(t)
	// A regular file where the staging directory should be: refused even for root.
	os.RemoveAll(filepath.Join(dir, ".partial"))
	os.WriteFile(filepath.Join(dir, ".partial"), nil, 0o644)
	sinks := map[string]sink.Sink{"broken": brokenSink{sink.NewMemory()}, "fs without staging dir": fsRO}
	if os.Geteuid() != 0 { // root writes through permission bits
		ro, roDir := fsSink(t)
		os.Chmod(filepath.Join(roDir, ".partial"), 0o555)
		t.Cleanup(func() { os.Chmod(filepath.Join(roDir, ".partial"), 0o755) })
		sinks["read-only fs"] = ro
	}
	for name, s := range sinks {
		for _, resume := range []string{"", "some-job"} {
			t.Run(name+"/resume="+resume, func(t *testing.T) {
				c := e.config(s)
				c.ResumeJobID = resume
				_, err := ingest.Run(context.Background(), c)
				wantErr(t, err, ingest.KindUnavailable, 6, 0, "raw sink is not writable")
			})
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d HTTP calls despite an unwritable sink", n)
	}
}
