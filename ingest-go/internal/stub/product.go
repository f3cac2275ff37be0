package stub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
)

// The stderr of a failed product command kept for the job's error: at most stderrKeep bytes are read, and a long one
// is cut to its first stderrHead and last stderrTail lines (a tool's message comes first, a traceback's last).
const (
	stderrKeep  = 64 << 10
	stderrHead  = 5
	stderrTail  = 3
	detailBytes = 2000
)

// productLine is the one stdin line of a product command: the process id and the inputs as submitted.
type productLine struct {
	Dataset string         `json:"dataset"`
	Request map[string]any `json:"request"`
}

// commandProduct runs Options.ProductCommand for one job and writes its stdout to WorkDir/{id}.grib: the job's asset
// (size and SHA-256 of the bytes written). A non-zero exit, a command that cannot start or an empty stdout is an
// error naming the command's stderr; nothing is left on disk then. It reads only the job's immutable fields: callers
// need not hold s.mu.
func (s *Server) commandProduct(id, dataset string, inputs map[string]any) (*AssetInfo, error) {
	start := time.Now()
	line, err := json.Marshal(productLine{Dataset: dataset, Request: inputs})
	if err != nil {
		return nil, fmt.Errorf("the request is not JSON: %v", err)
	}
	path := filepath.Join(s.opts.WorkDir, id+".grib")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	h, n, stderr := sha256.New(), &counter{}, &capped{max: stderrKeep}
	argv := s.opts.ProductCommand
	limit := s.opts.ProductTimeout
	if limit <= 0 {
		limit = DefaultProductTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(line, '\n'))
	cmd.Stdout, cmd.Stderr = io.MultiWriter(f, h, n), stderr
	cmd.WaitDelay = 5 * time.Second // once killed (the stub stops), a grandchild holding the pipes does not hold us
	runErr := cmd.Run()
	if cerr := f.Close(); runErr == nil && cerr != nil {
		runErr = cerr
	}
	if runErr == nil && n.n == 0 {
		runErr = errors.New("it wrote no product on stdout")
	}
	if runErr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		runErr = fmt.Errorf("killed after the product timeout of %v: %v", limit, runErr)
	}
	if runErr != nil {
		os.Remove(path)
		detail := summarize(stderr.String())
		if detail != "" {
			detail = ": " + detail
		}
		return nil, fmt.Errorf("the product command for %s failed (%v)%s", dataset, runErr, detail)
	}
	el := time.Since(start)
	s.log.Info("asset made by the product command", "job", id, "bytes", n.n, "ms", el.Milliseconds())
	return &AssetInfo{Size: n.n, SHA256: hex.EncodeToString(h.Sum(nil)), GenMS: el.Milliseconds(), path: path}, nil
}

// finishByCommand makes a job's product with the product command, outside the lock (a command may take seconds; the
// other jobs are answered meanwhile), then ends the job: successful with its asset, or failed with the command's
// error. A job dismissed meanwhile stays dismissed (its product is dropped).
func (s *Server) finishByCommand(j *job) {
	asset, err := s.commandProduct(j.JobID, j.ProcessID, j.Inputs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.Status != adsapi.StatusRunning {
		if asset != nil {
			os.Remove(asset.path)
		}
		return
	}
	now := s.opts.Now()
	if err != nil {
		s.log.Error("generation failed", "job", j.JobID, "err", err)
		j.failure = "Error: " + err.Error()
		s.setStatus(j, adsapi.StatusFailed, now)
		return
	}
	j.Asset = asset
	s.setStatus(j, adsapi.StatusSuccessful, now)
}

// summarize is a command's stderr for an error message: trimmed; a long one cut to its first and last lines.
func summarize(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) > stderrHead+stderrTail {
		cut := len(lines) - stderrHead - stderrTail
		lines = append(append(lines[:stderrHead:stderrHead], fmt.Sprintf("[… %d lines …]", cut)), lines[len(lines)-stderrTail:]...)
	}
	out := strings.Join(lines, "\n")
	if len(out) > detailBytes {
		out = out[:detailBytes] + " […]"
	}
	return out
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// capped keeps the first max bytes written and discards the rest (a chatty command cannot fill the memory).
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }
