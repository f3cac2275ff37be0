package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// download streams href into the sink, hashing as it goes, resuming with Range when the server
// advertised Accept-Ranges: bytes. Nothing is committed unless the size equals want. On a commit
// conflict it returns the downloaded size and SHA-256 together with the KindConflict error.
func (r *run) download(ctx context.Context, href string, want int64) (int64, string, error) {
	var (
		up           sink.Upload
		h            hash.Hash
		n            int64
		acceptRanges bool
	)
	restart := func() error {
		if up != nil {
			up.Abort()
		}
		var err error
		if up, err = r.cfg.Sink.Create(ctx, r.cfg.Key); err != nil {
			return errorf(KindInternal, "sink create: %v", err)
		}
		h, n = sha256.New(), 0
		return nil
	}
	if err := restart(); err != nil {
		return 0, "", err
	}
	committed := false
	defer func() {
		if !committed {
			up.Abort()
		}
	}()

	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, href, nil)
		if err != nil {
			return 0, "", errorf(KindInternal, "download: %v", err)
		}
		// No PRIVATE-TOKEN: download nodes are public and must not see the key.
		req.Header.Set("User-Agent", r.cfg.UserAgent)
		resuming := n > 0 && acceptRanges
		if resuming {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", n))
		}
		resp, err := r.httpc.Do(req)
		var why string
		var retryAfter = parseRetryAfter("")
		status := 0
		if err != nil {
			if cerr := r.ctxErr(ctx); cerr != nil {
				return 0, "", cerr
			}
			why = "transport error: " + err.Error()
		} else {
			status = resp.StatusCode
			switch {
			case status == http.StatusOK:
				if n > 0 {
					// Server ignored (or we did not send) Range: start over, hash included.
					r.log.Warn("download restarting from zero", "had_bytes", n, "range_sent", resuming)
					if err := restart(); err != nil {
						resp.Body.Close()
						return 0, "", err
					}
				}
				acceptRanges = strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes")
				why, err = r.copyBody(ctx, resp, up, h, &n)
			case status == http.StatusPartialContent && resuming && contentRangeStart(resp.Header.Get("Content-Range")) == n:
				r.resumes++
				r.log.Info("download resumed", "offset", n)
				why, err = r.copyBody(ctx, resp, up, h, &n)
			case status == http.StatusPartialContent:
				resp.Body.Close()
				why = "unexpected 206 Content-Range " + strconv.Quote(resp.Header.Get("Content-Range"))
				if err := restart(); err != nil {
					return 0, "", err
				}
				acceptRanges = false // do not trust this server's ranges again
			case retryable(status):
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				why = fmt.Sprintf("HTTP %d%s", status, problemSuffix(b))
				retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
			case status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusGone:
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				return 0, "", &linkGone{status: status, body: b}
			default:
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				return 0, "", refused("download", &response{status: status, body: b})
			}
			if err != nil {
				return 0, "", err
			}
			if why == "" {
				break // body complete
			}
		}
		if attempt >= r.cfg.MaxTries {
			if status/100 == 2 || status == 0 && n > 0 {
				return 0, "", errorf(KindIntegrity, "download incomplete after %d tries: %d of %d bytes (%s); nothing committed", attempt, n, want, why)
			}
			e := errorf(KindUnavailable, "download failed after %d tries: %s", attempt, why)
			e.HTTPStatus = status
			return 0, "", e
		}
		r.retries++
		delay := r.retryDelay(attempt, retryAfter)
		r.log.Warn("download retry", "attempt", attempt, "reason", why, "have_bytes", n, "resume", n > 0 && acceptRanges, "delay_ms", delay.Milliseconds())
		if err := r.sleep(ctx, delay); err != nil {
			return 0, "", r.ctxErr(ctx)
		}
	}
	if n != want {
		return 0, "", errorf(KindIntegrity, "downloaded %d bytes but ADS file:size is %d; nothing committed", n, want)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	committed = true
	r.emit(Event{Event: EventPhase, Phase: PhaseCommit})
	if err := up.Commit(ctx); err != nil {
		if errors.Is(err, sink.ErrConflict) {
			// n and sum describe what we downloaded: a resumed run compares them with the object.
			return n, sum, errorf(KindConflict, "object %s appeared in the sink during the download; not overwritten", r.cfg.Key)
		}
		if cerr := r.ctxErr(ctx); cerr != nil {
			return 0, "", cerr
		}
		return 0, "", errorf(KindInternal, "sink commit: %v", err)
	}
	return n, sum, nil
}

// copyBody appends the body to the upload. It returns a non-empty reason when the body ended
// early (retry), or an error that must stop the download (sink failure, cancellation).
func (r *run) copyBody(ctx context.Context, resp *http.Response, up sink.Upload, h hash.Hash, n *int64) (string, error) {
	defer resp.Body.Close()
	buf := make([]byte, 1<<20)
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, err := up.Write(buf[:k]); err != nil {
				// A sink that uploads while writing (S3) fails its write when the run is cancelled.
				if cerr := r.ctxErr(ctx); cerr != nil {
					return "", cerr
				}
				return "", errorf(KindInternal, "sink write: %v", err)
			}
			h.Write(buf[:k])
			*n += int64(k)
		}
		if rerr == io.EOF {
			return "", nil
		}
		if rerr != nil {
			if cerr := r.ctxErr(ctx); cerr != nil {
				return "", cerr
			}
			return "body interrupted: " + rerr.Error(), nil
		}
	}
}

// contentRangeStart parses "bytes N-M/T" and returns N, or -1.
func contentRangeStart(v string) int64 {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return -1
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return -1
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return -1
	}
	return s
}
