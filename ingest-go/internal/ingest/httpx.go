package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/adsapi"
)

// retryable statuses match multiurl.robust, which the reference client uses.
func retryable(status int) bool {
	switch status {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// response is a fully-read API response.
type response struct {
	status int
	header http.Header
	body   []byte
	url    string // final URL after redirects, for resolving relative hrefs
}

const maxAPIBody = 16 << 20

// call performs an API request with retries on transient failures. Non-retryable HTTP statuses
// are returned as responses for the caller to classify.
func (r *run) call(ctx context.Context, op, method, url string, body []byte) (*response, error) {
	for attempt := 1; ; attempt++ {
		resp, why, retryAfter, err := r.attempt(ctx, op, method, url, body)
		if err != nil {
			return nil, err
		}
		if why == "" {
			return resp, nil
		}
		if attempt >= r.cfg.MaxTries {
			e := errorf(KindUnavailable, "%s failed after %d tries: %s", op, attempt, why)
			if resp != nil {
				e.HTTPStatus = resp.status
			}
			return nil, e
		}
		delay := r.retryDelay(attempt, retryAfter)
		r.retries++
		r.log.Warn("retrying", "op", op, "attempt", attempt, "reason", why, "delay_ms", delay.Milliseconds())
		if err := r.sleep(ctx, delay); err != nil {
			return nil, r.ctxErr(ctx)
		}
	}
}

// attempt performs one API request. A non-empty why is a transient failure worth retrying (resp, when not
// nil, is the retryable HTTP response: 408, 429, 5xx); err is final (cancelled, timed out, bad request URL).
func (r *run) attempt(ctx context.Context, op, method, url string, body []byte) (resp *response, why string, retryAfter time.Duration, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, "", 0, errorf(KindInternal, "%s: %v", op, err)
	}
	req.Header.Set("PRIVATE-TOKEN", r.cfg.APIKey)
	req.Header.Set("User-Agent", r.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hresp, err := r.httpc.Do(req)
	if err != nil {
		if cerr := r.ctxErr(ctx); cerr != nil {
			return nil, "", 0, cerr
		}
		return nil, "transport error: " + err.Error(), 0, nil
	}
	b, rerr := io.ReadAll(io.LimitReader(hresp.Body, maxAPIBody))
	hresp.Body.Close()
	switch {
	case rerr != nil:
		if cerr := r.ctxErr(ctx); cerr != nil {
			return nil, "", 0, cerr
		}
		return nil, "reading body: " + rerr.Error(), 0, nil
	case retryable(hresp.StatusCode):
		got := &response{status: hresp.StatusCode, header: hresp.Header, body: b, url: hresp.Request.URL.String()}
		return got, fmt.Sprintf("HTTP %d%s", hresp.StatusCode, problemSuffix(b)), parseRetryAfter(hresp.Header.Get("Retry-After")), nil
	}
	return &response{status: hresp.StatusCode, header: hresp.Header, body: b, url: hresp.Request.URL.String()}, "", 0, nil
}

// retryDelay honours Retry-After (capped by --retry-after) else backs off from --poll-initial ×1.5.
func (r *run) retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, r.cfg.RetryAfterMax)
	}
	d := time.Duration(float64(r.cfg.PollInitial) * math.Pow(1.5, float64(attempt-1)))
	return min(d, r.cfg.RetryAfterMax)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// problemSuffix renders a §3 problem body (title/detail/traceback) for messages.
func problemSuffix(b []byte) string {
	var p adsapi.Problem
	if json.Unmarshal(b, &p) != nil || (p.Title == "" && p.Detail == "" && p.Traceback == "") {
		return ""
	}
	parts := []string{}
	for _, s := range []string{p.Title, p.Detail, p.Traceback} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return ": " + strings.Join(parts, ": ")
}

// refused classifies a non-2xx, non-retryable API response.
func refused(op string, resp *response) *Error {
	k := KindInvalidRequest
	switch resp.status {
	case 401, 403:
		k = KindAuth
	case 404:
		k = KindNotFound
	}
	e := errorf(k, "%s refused by ADS (HTTP %d)%s", op, resp.status, problemSuffix(resp.body))
	e.HTTPStatus = resp.status
	return e
}

func (r *run) sleep(ctx context.Context, d time.Duration) error {
	if r.cfg.Sleep != nil {
		return r.cfg.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errTimeout = errors.New("overall timeout")

// ctxErr converts a finished context into the right classified error (timeout vs cancellation).
func (r *run) ctxErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errTimeout) {
		return errorf(KindUnavailable, "timed out after %s", r.cfg.Timeout)
	}
	return errorf(KindCancelled, "cancelled")
}
