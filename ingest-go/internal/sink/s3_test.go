package sink_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink/s3test"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink/sinktest"
)

const (
	s3Key    = fsKey
	attemptA = "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6c"
	attemptB = "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6d"
)

// newS3 returns an S3 sink on a fresh bucket with 5 MiB parts; when the test ends no multipart
// upload may be left behind (every upload either committed or aborted).
func newS3(t *testing.T, env s3test.Env, attempt string) (*sink.S3, string) {
	t.Helper()
	bucket := env.Bucket(t)
	cfg := env.Config(bucket)
	cfg.PartSize = sink.MinPartSize
	s, err := sink.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Attempt = attempt
	c := env.Client(t)
	t.Cleanup(func() {
		if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
			t.Errorf("%d multipart uploads left behind: %+v", len(ups), ups)
		}
	})
	return s, bucket
}

func TestS3Sink(t *testing.T) {
	env := s3test.Lookup(t)
	c := env.Client(t)
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Reader) {
		s, bucket := newS3(t, env, attemptA)
		return s, func(t *testing.T, key string) []byte { return s3test.Get(t, c, bucket, s3Key) }
	})
}

// pattern is n deterministic bytes that differ per seed.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// writeChunks writes data in uneven chunks, like a download does.
func writeChunks(t *testing.T, u sink.Upload, data []byte) {
	t.Helper()
	for i, step := 0, 1; len(data) > 0; i++ {
		step = min(len(data), 1+(i*7919)%(3<<20))
		if _, err := u.Write(data[:step]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		data = data[step:]
	}
}

func TestS3MultipartRoundTripAndNothingVisibleBeforeCommit(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, attemptA)
	c := env.Client(t)
	ctx := context.Background()
	data := pattern(1, 2*int(sink.MinPartSize)+123457) // three parts, the last one short
	u, err := s.Create(ctx, s3Key)
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, u, data)
	if bc := sink.S3BufferCap(u); int64(bc) > sink.MinPartSize {
		t.Fatalf("part buffer holds %d bytes, more than one part", bc)
	}
	if ups := s3test.Uploads(t, c, bucket, s3Key); len(ups) != 1 {
		t.Fatalf("multipart uploads at the key before commit: %+v", ups)
	}
	if ok, err := s.Exists(ctx, s3Key); err != nil || ok {
		t.Fatalf("Exists before commit = %v, %v", ok, err)
	}
	if l, err := s.List(ctx, ""); err != nil || len(l) != 0 {
		t.Fatalf("List before commit = %v, %v", l, err)
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := s3test.Get(t, c, bucket, s3Key); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes differ from the %d written", len(got), len(data))
	}
	rc, size, err := s.Open(ctx, s3Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("Open: size %d, %d bytes read", size, len(got))
	}
	if a, _ := s3test.Meta(t, c, bucket, s3Key, sink.AttemptMeta); a != attemptA {
		t.Fatalf("attempt metadata %q, want %q", a, attemptA)
	}
	if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads after commit: %+v", ups)
	}
}

func TestS3ExactlyOnePartIsASinglePut(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, "")
	c := env.Client(t)
	ctx := context.Background()
	data := pattern(2, int(sink.MinPartSize))
	u, _ := s.Create(ctx, s3Key)
	writeChunks(t, u, data)
	if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
		t.Fatalf("an object of one part started a multipart upload: %+v", ups)
	}
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s3test.Get(t, c, bucket, s3Key), data) {
		t.Fatal("content differs")
	}
	if a, _ := s3test.Meta(t, c, bucket, s3Key, sink.AttemptMeta); a != "" {
		t.Fatalf("attempt metadata %q without an attempt", a)
	}
}

func TestS3SecondWriterGetsConflict(t *testing.T) {
	env := s3test.Lookup(t)
	first := pattern(3, 1000)
	for _, tc := range []struct {
		name string
		size int
	}{{"single-part", 4096}, {"multipart", int(sink.MinPartSize) + 4096}} {
		t.Run(tc.name, func(t *testing.T) {
			s, bucket := newS3(t, env, attemptA)
			c := env.Client(t)
			ctx := context.Background()
			u, _ := s.Create(ctx, s3Key)
			u.Write(first)
			if err := u.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			// The same attempt writing again is no exception: the object is not ours.
			u2, err := s.Create(ctx, s3Key)
			if err != nil {
				t.Fatal(err)
			}
			writeChunks(t, u2, pattern(4, tc.size))
			if err := u2.Commit(ctx); !errors.Is(err, sink.ErrConflict) {
				t.Fatalf("second commit err = %v, want ErrConflict", err)
			}
			if !bytes.Equal(s3test.Get(t, c, bucket, s3Key), first) {
				t.Fatal("the first object was overwritten")
			}
			if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
				t.Fatalf("the conflicting multipart upload was not aborted: %+v", ups)
			}
		})
	}
}

func TestS3RacingWritersOneWinner(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, attemptA)
	c := env.Client(t)
	ctx := context.Background()
	const n = 8
	datas := make([][]byte, n)
	errs := make([]error, n)
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		size := 300_000 + i // even writers single-part, odd ones multipart
		if i%2 == 1 {
			size = int(sink.MinPartSize) + 300_000 + i
		}
		datas[i] = pattern(100+i, size)
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := s.Create(ctx, s3Key)
			if err != nil {
				errs[i] = err
				ready.Done()
				return
			}
			_, errs[i] = u.Write(datas[i])
			ready.Done()
			<-start
			if errs[i] == nil {
				errs[i] = u.Commit(ctx)
			} else {
				u.Abort()
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, sink.ErrConflict):
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got := s3test.Get(t, c, bucket, s3Key)
	if sha256.Sum256(got) != sha256.Sum256(datas[winner]) {
		t.Fatalf("stored %d bytes are not the winner's (writer %d, %d bytes)", len(got), winner, len(datas[winner]))
	}
}

func TestS3AbortLeavesNoMultipartUpload(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, attemptA)
	c := env.Client(t)
	ctx := context.Background()
	u, _ := s.Create(ctx, s3Key)
	writeChunks(t, u, pattern(5, int(sink.MinPartSize)+1))
	if ups := s3test.Uploads(t, c, bucket, s3Key); len(ups) != 1 {
		t.Fatalf("want one multipart upload in progress, got %+v", ups)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads after Abort: %+v", ups)
	}
	if ok, _ := s.Exists(ctx, s3Key); ok {
		t.Fatal("aborted object exists")
	}
}

func TestS3AbortAfterCancelStillCleansUp(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, attemptA)
	c := env.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	u, _ := s.Create(ctx, s3Key)
	writeChunks(t, u, pattern(6, int(sink.MinPartSize)+1))
	cancel() // SIGTERM: the run's context is gone before the upload is aborted
	if _, err := u.Write(pattern(7, int(sink.MinPartSize))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel err = %v, want context.Canceled", err)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads after Abort: %+v", ups)
	}
}

// The lost-reply rule, called directly: after this upload committed, a 412 is its own success;
// for an upload of another attempt (same size) it is a conflict, and so for another upload of
// the same attempt.
func TestS3PreconditionFailedIsSuccessOnlyForTheSameUpload(t *testing.T) {
	env := s3test.Lookup(t)
	s, bucket := newS3(t, env, attemptA)
	ctx := context.Background()
	pf := minio.ErrorResponse{StatusCode: http.StatusPreconditionFailed, Code: "PreconditionFailed"}
	data := pattern(8, 2048)
	u, _ := s.Create(ctx, s3Key)
	u.Write(data)
	if err := u.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sink.SettleS3(ctx, u, pf); err != nil {
		t.Fatalf("same upload, same attempt: %v, want success", err)
	}
	other, err := sink.NewS3(env.Config(bucket))
	if err != nil {
		t.Fatal(err)
	}
	other.Attempt = attemptB
	u2, _ := other.Create(ctx, s3Key)
	u2.Write(pattern(9, 2048))
	if err := sink.SettleS3(ctx, u2, pf); !errors.Is(err, sink.ErrConflict) {
		t.Fatalf("another attempt: %v, want ErrConflict", err)
	}
	u2.Abort()
	u3, _ := s.Create(ctx, s3Key)
	u3.Write(data)
	if err := sink.SettleS3(ctx, u3, pf); !errors.Is(err, sink.ErrConflict) {
		t.Fatalf("another upload of the same attempt: %v, want ErrConflict", err)
	}
	u3.Abort()
}

// lossyProxy forwards to the S3 server but, for the first request carrying If-None-Match, drops
// the server's reply (the commit happened; the client sees a closed connection and retries).
// It records every request that carried If-None-Match as "METHOD uploadId?" lines.
func lossyProxy(t *testing.T, target string) (string, *atomic.Int32, func() []string) {
	t.Helper()
	tu, _ := url.Parse(target)
	var dropped atomic.Int32
	var mu sync.Mutex
	var conditional []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.RequestURI = tu.Scheme, tu.Host, ""
		out.Host = r.Host // signed
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			mu.Lock()
			conditional = append(conditional, fmt.Sprintf("%s %s uploadId=%v", inm, r.Method, r.URL.Query().Has("uploadId")))
			mu.Unlock()
		}
		if r.Header.Get("If-None-Match") != "" && dropped.CompareAndSwap(0, 1) {
			io.Copy(io.Discard, resp.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &dropped, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), conditional...) }
}

// A commit whose reply is lost is retried by the SDK. For a PutObject the retry meets the
// object it created (412) and settle must recognise it as its own; a retried
// CompleteMultipartUpload may instead be answered 200 (versitygw completes idempotently) or 412.
func TestS3LostCommitReplyIsNotAConflict(t *testing.T) {
	env := s3test.Lookup(t)
	for _, tc := range []struct {
		size int
		wire string // the commit request as the server saw it
	}{{4096, "* PUT uploadId=false"}, {int(sink.MinPartSize) + 4096, "* POST uploadId=true"}} {
		size := tc.size
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			bucket := env.Bucket(t)
			proxy, dropped, conditional := lossyProxy(t, env.Endpoint)
			cfg := env.Config(bucket)
			cfg.Endpoint, cfg.PartSize = proxy, sink.MinPartSize
			s, err := sink.NewS3(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.Attempt = attemptA
			ctx := context.Background()
			data := pattern(10, size)
			u, _ := s.Create(ctx, s3Key)
			writeChunks(t, u, data)
			if err := u.Commit(ctx); err != nil {
				t.Fatalf("Commit after a lost reply: %v", err)
			}
			if dropped.Load() != 1 {
				t.Fatal("no reply was dropped")
			}
			// If-None-Match: * went on the commit request only (PutObject, or the
			// CompleteMultipartUpload POST), and again on the SDK's retry.
			if got := conditional(); len(got) < 2 || got[0] != tc.wire || got[1] != tc.wire {
				t.Fatalf("conditional requests %q, want the commit %q sent and retried", got, tc.wire)
			}
			c := env.Client(t)
			if !bytes.Equal(s3test.Get(t, c, bucket, s3Key), data) {
				t.Fatal("content differs")
			}
			if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
				t.Fatalf("multipart uploads left: %+v", ups)
			}
		})
	}
}

// corruptingProxy forwards to the S3 server, flipping one byte in the body of every upload of
// part 2 (as a faulty network path or middlebox would); it counts the parts it corrupted.
func corruptingProxy(t *testing.T, target string) (string, *atomic.Int32) {
	t.Helper()
	tu, _ := url.Parse(target)
	var corrupted atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" && len(body) > 1000 {
			body[1000] ^= 0x40
			corrupted.Add(1)
		}
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.RequestURI = tu.Scheme, tu.Host, ""
		out.Host = r.Host // signed
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &corrupted
}

// Parts travel with an unsigned payload (for speed), so their bytes are checked by the CRC-32C
// each part carries: a part corrupted on the way is refused by the server and the upload fails
// with an error, never committed with the wrong bytes.
func TestS3CorruptedPartIsRefusedNeverCommitted(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	proxy, corrupted := corruptingProxy(t, env.Endpoint)
	cfg := env.Config(bucket)
	cfg.Endpoint, cfg.PartSize, cfg.MaxRetries = proxy, sink.MinPartSize, 2
	s, err := sink.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := pattern(12, 3*int(sink.MinPartSize)+4096)
	u, _ := s.Create(ctx, s3Key)
	var werr error
	for off := 0; off < len(data) && werr == nil; off += 1 << 20 {
		_, werr = u.Write(data[off:min(off+1<<20, len(data))])
	}
	cerr := u.Commit(ctx)
	if corrupted.Load() == 0 {
		t.Fatal("the proxy corrupted no part")
	}
	if werr == nil && cerr == nil {
		c := env.Client(t)
		if !bytes.Equal(s3test.Get(t, c, bucket, s3Key), data) {
			t.Fatal("a corrupted part was committed: the object differs from what was written")
		}
		t.Fatal("a corrupted part was accepted")
	}
	err = errors.Join(werr, cerr)
	if !strings.Contains(err.Error(), "part 2") {
		t.Fatalf("the error does not name the part: %v", err)
	}
	c := env.Client(t)
	if _, err := c.StatObject(ctx, bucket, s3Key, minio.StatObjectOptions{}); err == nil {
		t.Fatal("an object is visible at the key after the failed upload")
	}
	if ups := s3test.Uploads(t, c, bucket, ""); len(ups) != 0 {
		t.Fatalf("multipart uploads left: %+v", ups)
	}
}

func TestS3ErrorsNameTheProblemButNoSecret(t *testing.T) {
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	ctx := context.Background()
	u, _ := url.Parse(env.Endpoint)
	const wrongSecret = "wrong-secret-Zq8xV1pLk3"
	const wrongAccess = "wrong-access-Mm4Tt7"
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	var calls atomic.Int32
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}))
	defer busy.Close()
	busyHost := strings.TrimPrefix(busy.URL, "http://")
	for _, tc := range []struct {
		name   string
		mutate func(*sink.S3Config)
		want   []string
	}{
		{"wrong secret", func(c *sink.S3Config) { c.Credentials.SecretKey = wrongSecret }, []string{u.Host, bucket, "access denied"}},
		{"wrong access key", func(c *sink.S3Config) { c.Credentials.AccessKey, c.Credentials.SecretKey = wrongAccess, wrongSecret }, []string{u.Host, bucket, "access denied"}},
		{"missing bucket", func(c *sink.S3Config) { c.Bucket = bucket + "-missing" }, []string{u.Host, bucket + "-missing", "does not exist"}},
		{"connection refused", func(c *sink.S3Config) { c.Endpoint = "http://" + closedAddr }, []string{closedAddr, bucket, "connection refused"}},
		{"server error", func(c *sink.S3Config) { c.Endpoint = busy.URL }, []string{busyHost, bucket, "server error HTTP 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.Config(bucket)
			cfg.MaxRetries = 1
			tc.mutate(&cfg)
			s, err := sink.NewS3(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, cerr := s.Create(ctx, s3Key)
			_, eerr := s.Exists(ctx, s3Key)
			_, _, oerr := s.Open(ctx, s3Key)
			_, lerr := s.List(ctx, "")
			for op, err := range map[string]error{"Create": cerr, "Exists": eerr, "Open": oerr, "List": lerr} {
				if err == nil || errors.Is(err, sink.ErrNotFound) {
					t.Errorf("%s err = %v, want a failure", op, err)
					continue
				}
				msg := err.Error()
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s error %q does not name %q", op, msg, w)
					}
				}
				for _, secret := range []string{cfg.Credentials.SecretKey, cfg.Credentials.AccessKey} {
					if strings.Contains(msg, secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, cfg), secret) {
						t.Errorf("%s error reveals a credential: %q", op, msg)
					}
				}
			}
		})
	}
}

func TestParseS3URL(t *testing.T) {
	cfg, err := sink.ParseS3URL("s3://raw-bucket?endpoint=http://127.0.0.1:7070&region=eu-west-1&part_size=8388608")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bucket != "raw-bucket" || cfg.Endpoint != "http://127.0.0.1:7070" || cfg.Region != "eu-west-1" || cfg.PartSize != 8<<20 {
		t.Fatalf("%+v", cfg)
	}
	const secret = "SuperSecret123"
	for _, tc := range []struct{ url, msg string }{
		{"s3://raw-bucket", "no endpoint"},
		{"s3://?endpoint=http://127.0.0.1:7070", "no bucket"},
		{"s3://Bad_Bucket?endpoint=http://127.0.0.1:7070", "invalid bucket name"},
		{"s3://raw-bucket/prefix?endpoint=http://127.0.0.1:7070", "no path"},
		{"s3://AKIA:" + secret + "@raw-bucket?endpoint=http://127.0.0.1:7070", "user information"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&secret_key=" + secret, "credentials never go in the URL"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&X-Amz-Credential=" + secret, "credentials never go in the URL"},
		{"s3://raw-bucket?endpoint=http://u:" + secret + "@127.0.0.1:7070", "user information"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&colour=" + secret, `unknown sink URL query parameter "colour"`},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&region=a&region=b", "given 2 times"},
		{"s3://raw-bucket?endpoint=ftp://127.0.0.1:7070", "scheme must be http or https"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:70000", "not in 1..65535"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070/path", "scheme://host[:port] only"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&part_size=1024", "outside"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&part_size=" + secret, "whole number"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&region=US_EAST", "region must be"},
		{"s3://raw-bucket?endpoint=http://127.0.0.1:7070&ca_bundle=/etc/ca.pem", "only to an https endpoint"},
	} {
		_, err := sink.ParseS3URL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %q", tc.url, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error echoes the secret: %v", tc.url, err)
		}
	}
	if _, err := sink.NewS3(sink.S3Config{Endpoint: "http://127.0.0.1:7070", Bucket: "raw-bucket"}); err == nil {
		t.Error("NewS3 without credentials succeeded")
	}
	creds := sink.S3Credentials{AccessKey: "AKIA" + secret, SecretKey: secret, SessionToken: secret}
	for _, s := range []string{fmt.Sprint(creds), fmt.Sprintf("%+v %#v", creds, creds), fmt.Sprintf("%+v", sink.S3Config{Credentials: creds})} {
		if strings.Contains(s, secret) {
			t.Errorf("credentials print as %s", s)
		}
	}
}
