package stub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cams"
)

// JobCount is how many jobs the stub created for one request (GET /_stub/job-counts): jobs are counted where they
// are made, whatever became of the reply (dropped, held, answered) and whoever asked.
type JobCount struct {
	Dataset   string         `json:"dataset"`
	Request   map[string]any `json:"request"`
	Canonical string         `json:"canonical"` // the request as canonical JSON (adsapi.CanonicalJSON): the key counted by
	Jobs      int            `json:"jobs"`
}

// newJob makes an accepted job of dataset for inputs (not yet listed: see add).
func (s *Server) newJob(dataset string, inputs map[string]any, req *cams.Request, owner string) *job {
	now := s.opts.Now()
	j := &job{req: req, created: now, updated: now, owner: owner}
	j.JobID = newUUID4()
	j.ProcessID = dataset
	j.Inputs = inputs
	j.Status = adsapi.StatusAccepted
	j.History = []Transition{{adsapi.StatusAccepted, adsapi.FormatTime(now)}}
	if b, err := json.Marshal(inputs); err == nil {
		j.canonical, _ = adsapi.CanonicalJSON(b)
	}
	return j
}

// add lists j (newest last); caller holds s.mu.
func (s *Server) add(j *job) {
	s.jobs[j.JobID] = j
	s.order = append(s.order, j.JobID)
}

// JobCounts returns how many jobs were created per (dataset, canonical request), in order of first creation.
func (s *Server) JobCounts() []JobCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []JobCount
	at := map[string]int{}
	for _, id := range s.order {
		j := s.jobs[id]
		k := j.ProcessID + "\x00" + j.canonical
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, JobCount{Dataset: j.ProcessID, Request: j.Inputs, Canonical: j.canonical})
		}
		out[i].Jobs++
	}
	return out
}

func (s *Server) jobCounts(w http.ResponseWriter, r *http.Request) {
	counts := s.JobCounts()
	total := 0
	for _, c := range counts {
		total += c.Jobs
	}
	writeJSON(w, 200, map[string]any{"counts": append([]JobCount{}, counts...), "total": total})
}

// createStates are the states POST /_stub/jobs can make a job in.
var createStates = []string{adsapi.StatusAccepted, adsapi.StatusRunning, adsapi.StatusSuccessful, adsapi.StatusFailed, "expired"}

// createJob (test control, POST /_stub/jobs {"processID", "inputs", "status"}) makes a job of the stub's API key in
// a given state and pins it there (polls do not move it): accepted, running, successful (its product generated),
// failed, or expired (successful, its results purged). Answers the job as GET /_stub/jobs lists it.
func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ProcessID string         `json:"processID"`
		Inputs    map[string]any `json:"inputs"`
		Status    string         `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Inputs == nil {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: `body: {"processID", "inputs": {…}, "status"}`})
		return
	}
	if body.ProcessID == "" {
		body.ProcessID = s.opts.Datasets[0]
	}
	if !slices.Contains(createStates, body.Status) {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: fmt.Sprintf("status must be one of %v", createStates)})
		return
	}
	req, err := s.parseRequest(body.Inputs)
	if err != nil {
		writeProblem(w, 400, adsapi.Problem{Type: "invalid request", Title: "invalid request", Detail: err.Error()})
		return
	}
	j := s.newJob(body.ProcessID, body.Inputs, req, s.opts.APIKey)
	j.pinned = true
	var made error
	if body.Status == adsapi.StatusSuccessful || body.Status == "expired" {
		made = s.generate(j) // j is not listed yet: no lock (a product command may take seconds)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	switch body.Status {
	case adsapi.StatusRunning:
		s.setStatus(j, adsapi.StatusRunning, now)
	case adsapi.StatusFailed:
		s.setStatus(j, adsapi.StatusRunning, now)
		j.failure = "Error: the job was made failed by the test control"
		s.setStatus(j, adsapi.StatusFailed, now)
	case adsapi.StatusSuccessful, "expired":
		s.setStatus(j, adsapi.StatusRunning, now)
		if made != nil {
			writeProblem(w, 500, adsapi.Problem{Type: "internal server error", Title: "generation failed", Detail: made.Error()})
			return
		}
		s.setStatus(j, adsapi.StatusSuccessful, now)
		j.resultsExpired = body.Status == "expired"
	}
	s.add(j)
	writeJSON(w, 201, j.JobView)
}

// expireJob (test control, POST /_stub/jobs/{id}/expire) purges a successful job's product: its results answer
// 404 "results expired" from now on.
func (s *Server) expireJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[r.PathValue("id")]
	if j == nil || j.Status != adsapi.StatusSuccessful {
		writeProblem(w, 409, adsapi.Problem{Type: "conflict", Title: "not a successful job", Detail: r.PathValue("id")})
		return
	}
	j.resultsExpired = true
	writeJSON(w, 200, j.JobView)
}

// Close releases the submit replies held by StallSubmitReplies (their connections are then closed unanswered) and
// stops the product commands still running.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed); s.cancel() }) }
