package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/stub"
)

// assertCommittedFrom checks the committed object is the product of the stub job named by the manifest.
func assertCommittedFrom(t *testing.T, dir string, m *ingest.Manifest, e *env, jobs int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	all := e.stub.Jobs()
	if len(all) != jobs {
		t.Fatalf("%d jobs upstream, want %d: %+v", len(all), jobs, all)
	}
	for _, j := range all {
		if j.JobID == m.ADSJobID {
			if j.Asset == nil || j.Asset.SHA256 != m.SHA256 || int64(len(b)) != m.Size {
				t.Fatalf("job %+v vs manifest %+v (%d bytes on disk)", j, m, len(b))
			}
			assertNoPartial(t, dir)
			return
		}
	}
	t.Fatalf("manifest job %s is not upstream: %+v", m.ADSJobID, all)
}

func TestResultsExpiredOnceSubmitsTheRequestAgainOnce(t *testing.T) {
	e := newEnv(t, stub.Options{ExpireResults: 1})
	s, dir := fsSink(t)
	c := e.config(s)
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 2)
	first, second := e.stub.Jobs()[0], e.stub.Jobs()[1]
	if m.ADSJobID != second.JobID || first.ResultsCount != 1 || first.DownloadCount != 0 || second.DownloadCount != 1 {
		t.Fatalf("manifest %+v jobs %+v", m, e.stub.Jobs())
	}
	if first.Inputs["leadtime_hour"] == nil || !jsonEqual(first.Inputs, second.Inputs) {
		t.Fatalf("the second job's request differs: %v vs %v", first.Inputs, second.Inputs)
	}
	want := "phase:submit submitted:" + first.JobID + ":accepted phase:poll " +
		"phase:submit submitted:" + second.JobID + ":accepted:replaces:" + first.JobID + " phase:poll phase:download phase:commit"
	if rec.String() != want {
		t.Fatalf("events %q\nwant   %q", rec.String(), want)
	}
}

func TestResultsExpiredTwiceIsExpired(t *testing.T) {
	e := newEnv(t, stub.Options{ExpireResults: 2})
	s, dir := fsSink(t)
	c := e.config(s)
	_, rec, err := runRecorded(c)
	ie := wantErr(t, err, ingest.KindExpired, 8, 404, "expired upstream")
	jobs := e.stub.Jobs()
	if len(jobs) != 2 || ie.JobID != jobs[1].JobID || !strings.Contains(ie.Message, jobs[0].JobID) {
		t.Fatalf("error %+v, jobs %+v", ie, jobs)
	}
	if strings.Count(rec.String(), "submitted:") != 2 || strings.Contains(rec.String(), "download") {
		t.Fatalf("events %q", rec.String())
	}
	assertNothingCommitted(t, s)
	assertNoPartial(t, dir)
}

// A download link that answers 404 (expired, or the node lost the file) is not "not found": the
// results are fetched again for a fresh link, once; the same job, nothing submitted again.
func TestExpiredDownloadLinkFetchesTheResultsAgainOnce(t *testing.T) {
	e := newEnv(t, stub.Options{ExpireDownloads: 1})
	s, dir := fsSink(t)
	c := e.config(s)
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 1)
	job := e.stub.Jobs()[0]
	if m.ADSJobID != job.JobID || job.ResultsCount != 2 || job.DownloadCount != 1 {
		t.Fatalf("manifest %+v job %+v", m, job)
	}
	want := "phase:submit submitted:" + job.JobID + ":accepted phase:poll phase:download phase:poll phase:download phase:commit"
	if rec.String() != want {
		t.Fatalf("events %q\nwant   %q", rec.String(), want)
	}

	// A fresh link that fails too: expired (exit 8), naming the job and the status; nothing committed.
	e2 := newEnv(t, stub.Options{ExpireDownloads: 2})
	s2, dir2 := fsSink(t)
	_, err = ingest.Run(context.Background(), e2.config(s2))
	ie := wantErr(t, err, ingest.KindExpired, 8, 404, "download link")
	if jobs := e2.stub.Jobs(); len(jobs) != 1 || ie.JobID != jobs[0].JobID || jobs[0].ResultsCount != 2 {
		t.Fatalf("error %+v, jobs %+v", ie, jobs)
	}
	assertNothingCommitted(t, s2)
	assertNoPartial(t, dir2)
}

func TestResumedJobWithExpiredResultsIsSubmittedAgainOnce(t *testing.T) {
	e := newEnv(t, stub.Options{ExpireResults: 1})
	old := e.submitOnly(t)
	s, dir := fsSink(t)
	c := e.config(s)
	c.ResumeJobID = old
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 2)
	fresh := e.stub.Jobs()[1].JobID
	want := "submitted:" + old + ":resumed phase:poll phase:submit submitted:" + fresh + ":accepted:replaces:" + old +
		" phase:poll phase:download phase:commit"
	if m.ADSJobID != fresh || rec.String() != want {
		t.Fatalf("manifest job %s, events %q\nwant %q", m.ADSJobID, rec.String(), want)
	}

	// And when the resubmitted job's results expire too: expired, nothing committed.
	e2 := newEnv(t, stub.Options{ExpireResults: 2})
	old2 := e2.submitOnly(t)
	s2, _ := fsSink(t)
	c2 := e2.config(s2)
	c2.ResumeJobID = old2
	_, err = ingest.Run(context.Background(), c2)
	wantErr(t, err, ingest.KindExpired, 8, 404, old2)
	if len(e2.stub.Jobs()) != 2 {
		t.Fatalf("jobs %+v", e2.stub.Jobs())
	}
	assertNothingCommitted(t, s2)
}

func TestLostSubmitReplyAdoptsTheJobInsteadOfSubmittingAgain(t *testing.T) {
	e := newEnv(t, stub.Options{DropSubmitReplies: 1})
	s, dir := fsSink(t)
	c := e.config(s)
	m, rec, err := runRecorded(c)
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 1) // exactly one job upstream: the lost reply's
	j := e.stub.Jobs()[0]
	if m.ADSJobID != j.JobID || j.SubmitCount != 1 {
		t.Fatalf("manifest %+v job %+v", m, j)
	}
	if want := "phase:submit submitted:" + j.JobID + ":accepted phase:poll phase:download phase:commit"; rec.String() != want {
		t.Fatalf("events %q\nwant   %q", rec.String(), want)
	}
}

// A listing without the requests (the real API may leave metadata out) is completed job by job.
func TestLostSubmitReplyFoundWhenTheListingOmitsRequests(t *testing.T) {
	e := newEnv(t, stub.Options{DropSubmitReplies: 1})
	var listed, details int
	var mu sync.Mutex
	h := e.stub.Handler()
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/jobs") {
			h.ServeHTTP(w, r)
			return
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, r)
		body := rr.Body.Bytes()
		mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/jobs") {
			listed++
			var list map[string][]map[string]any
			if json.Unmarshal(body, &list) == nil {
				for _, j := range list["jobs"] {
					delete(j, "metadata")
				}
				body, _ = json.Marshal(list)
			}
		} else if r.URL.Query().Get("request") == "true" {
			details++
		}
		mu.Unlock()
		for k, v := range rr.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rr.Code)
		w.Write(body)
	})
	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 1)
	if listed != 1 || details != 1 {
		t.Fatalf("listed %d, job details asked %d", listed, details)
	}
}

// Only a job of the same request created since the submit started is taken for the lost reply's: here the
// lost submit created nothing (a proxy answered 502), and neither an older job of the same request nor a new
// job of another request is adopted.
func TestLostSubmitReplyIgnoresOlderAndDifferentJobs(t *testing.T) {
	var mu sync.Mutex
	shift, failNext := -time.Hour, false
	e := newEnv(t, stub.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(shift)
	}})
	h := e.stub.Handler()
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := failNext && r.Method == http.MethodPost
		if fail {
			failNext = false
		}
		mu.Unlock()
		if fail {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	})
	post := func(inputs string) string { return e.submitInputs(t, inputs) }
	older := post(request) // the same request, an hour ago
	mu.Lock()
	shift = 0
	mu.Unlock()
	other := post(strings.Replace(request, `"leadtime_hour":["0","1"]`, `"leadtime_hour":["0"]`, 1)) // now, another request
	mu.Lock()
	failNext = true // the run's first submit: 502 from a proxy, no job
	mu.Unlock()

	s, dir := fsSink(t)
	m, err := ingest.Run(context.Background(), e.config(s))
	if err != nil {
		t.Fatal(err)
	}
	assertCommittedFrom(t, dir, m, e, 3)
	if m.ADSJobID == older || m.ADSJobID == other || m.Retries != 1 {
		t.Fatalf("adopted a job that is not ours (%s; older %s, other %s) or retries %d", m.ADSJobID, older, other, m.Retries)
	}
}

func TestQueueDeadlineGivesUpAndLeavesTheJob(t *testing.T) {
	e := newEnv(t, stub.Options{AcceptedPolls: 1000})
	s, _ := fsSink(t)
	c := e.config(s)
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sleep := c.Sleep
	c.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		return sleep(ctx, d)
	}
	c.QueueDeadline = 10 * time.Millisecond
	_, err := ingest.Run(context.Background(), c)
	ie := wantErr(t, err, ingest.KindUnavailable, 6, 0, "still queued (accepted) upstream after 10ms")
	j := e.stub.Jobs()[0]
	if ie.JobID != j.JobID || j.Status != "accepted" || j.PollCount < 3 || j.PollCount > 10 {
		t.Fatalf("error %+v job %+v", ie, j)
	}
	assertNothingCommitted(t, s)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
