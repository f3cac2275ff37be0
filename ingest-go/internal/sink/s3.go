package sink

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Part sizes of S3 uploads. Objects up to one part are a single conditional PutObject; larger
// ones a multipart upload whose parts are exactly PartSize bytes (the last one fewer).
const (
	DefaultPartSize int64 = 16 << 20
	MinPartSize     int64 = 5 << 20 // S3's minimum for every part but the last
	MaxPartSize     int64 = 5 << 30 // S3's maximum part size
	maxParts              = 10000   // S3's maximum part count
)

// User metadata stamped on every S3 upload (sent as x-amz-meta-*; on a multipart upload at
// initiate time, so it is the committed object's metadata too).
const (
	// AttemptMeta holds S3.Attempt: which attempt wrote (or is writing) the object.
	AttemptMeta = "jackfruit-attempt"
	// uploadMeta holds a random id per Upload: after a lost reply, a 412 on the retried commit
	// is this upload's own success iff the object carries this id (the attempt alone is not
	// enough: one attempt may run several uploads, e.g. a download restarted from zero).
	uploadMeta = "jackfruit-upload"
)

// S3Credentials are the keys an S3 sink signs with. They never appear in errors or logs:
// String, GoString and LogValue print a redacted form.
type S3Credentials struct {
	AccessKey, SecretKey, SessionToken string
}

func (S3Credentials) String() string         { return "S3Credentials{[redacted]}" }
func (c S3Credentials) GoString() string     { return c.String() }
func (c S3Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// S3Config selects a bucket on an S3-compatible server. See ParseS3URL for the URL form.
type S3Config struct {
	Endpoint    string // http://host[:port] or https://host[:port] (TLS); no path, no user info
	Region      string // signing region; "" = us-east-1
	Bucket      string
	PartSize    int64  // 0 = DefaultPartSize; MinPartSize..MaxPartSize
	CABundle    string // PEM file: the CAs trusted for an https endpoint (instead of the system's)
	Credentials S3Credentials
	MaxRetries  int // attempts per request on transient failures (5xx, transport errors); 0 = the SDK's 10
}

// S3 stores objects in one bucket of an S3-compatible server, write-once enforced by the server:
// every commit is conditional on If-None-Match: * (a single PutObject, or CompleteMultipartUpload),
// so of concurrent writers exactly one wins and the others get ErrConflict (412).
//
// Uploads stream in bounded memory: Write buffers one part; when a full part is followed by more
// data a multipart upload is initiated and the part uploaded (unsigned payload, checked by the
// server against the part's CRC-32C: see partOptions). Nothing is visible at the key before
// Commit; Abort aborts the multipart upload.
//
// Every upload carries user metadata jackfruit-attempt (S3.Attempt, when set) and a random
// per-upload id; a 412 on commit whose object carries this upload's id and size is this upload's
// own earlier success (the reply was lost and the SDK retried), not a conflict.
//
// Leftovers: a SIGKILLed writer leaves an in-progress multipart upload (never an object). They are
// found with ListMultipartUploads(bucket, prefix=KEY) — the key names the run, and S3 does not
// return initiate-time metadata in that listing, so a collector aborts the uploads at the key of a
// run none of whose attempts is still alive (or any initiated before the oldest live attempt
// started) with AbortMultipartUpload. A bucket lifecycle rule AbortIncompleteMultipartUpload
// (e.g. 7 days) is the backstop.
type S3 struct {
	// Attempt, when set, is stamped on every upload as x-amz-meta-jackfruit-attempt.
	Attempt string

	core     *minio.Core
	bucket   string
	host     string // endpoint host:port, for messages
	partSize int64
	secrets  []string // redacted from every error message
}

// String names the bucket and endpoint (never the credentials).
func (s *S3) String() string { return "S3{bucket " + strconv.Quote(s.bucket) + " at " + s.host + "}" }

// LogValue keeps the credentials out of structured logs.
func (s *S3) LogValue() slog.Value { return slog.StringValue(s.String()) }

var (
	regionRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)
	// credentialParam matches query parameters that would carry a secret.
	credentialParam = regexp.MustCompile(`(?i)key|secret|token|passw|credential|signature|auth`)
)

// ParseS3URL parses s3://BUCKET?endpoint=URL[&region=R][&part_size=N][&ca_bundle=PATH].
// Credentials never go in the URL: user information or a credential-like parameter is refused,
// and no error message quotes a parameter value other than the endpoint's.
func ParseS3URL(raw string) (S3Config, error) {
	var cfg S3Config
	u, err := url.Parse(raw)
	if err != nil {
		return cfg, errors.New("the sink URL does not parse")
	}
	if u.Scheme != "s3" {
		return cfg, fmt.Errorf("the sink URL scheme must be s3, not %q", u.Scheme)
	}
	if u.User != nil {
		return cfg, errors.New("the sink URL carries user information; S3 credentials never go in the URL " +
			"(give them on the --input line or in $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY)")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return cfg, errors.New("the sink URL must be s3://BUCKET?endpoint=… (no path or fragment)")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cfg, errors.New("the sink URL query does not parse")
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch name {
		case "endpoint", "region", "part_size", "ca_bundle":
		default:
			if credentialParam.MatchString(name) {
				return cfg, fmt.Errorf("the sink URL carries query parameter %q; S3 credentials never go in the URL "+
					"(give them on the --input line or in $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY)", name)
			}
			return cfg, fmt.Errorf("unknown sink URL query parameter %q (known: endpoint, region, part_size, ca_bundle)", name)
		}
		if len(q[name]) != 1 {
			return cfg, fmt.Errorf("sink URL query parameter %q given %d times", name, len(q[name]))
		}
	}
	cfg.Bucket, cfg.Endpoint, cfg.Region, cfg.CABundle = u.Host, q.Get("endpoint"), q.Get("region"), q.Get("ca_bundle")
	if q.Has("part_size") {
		n, err := strconv.ParseInt(q.Get("part_size"), 10, 64)
		if err != nil {
			return cfg, errors.New("sink URL part_size must be a whole number of bytes")
		}
		cfg.PartSize = n
	}
	if _, err := cfg.check(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// check validates everything but the credentials and returns the parsed endpoint.
func (c S3Config) check() (*url.URL, error) {
	if c.Bucket == "" {
		return nil, errors.New("no bucket: the sink URL is s3://BUCKET?endpoint=…")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return nil, fmt.Errorf("invalid bucket name %q: %v", c.Bucket, err)
	}
	if c.Endpoint == "" {
		return nil, errors.New("no endpoint: the sink URL needs ?endpoint=http(s)://host:port")
	}
	e, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, errors.New("the endpoint does not parse as a URL")
	}
	if e.User != nil {
		return nil, errors.New("the endpoint carries user information; S3 credentials never go in the URL")
	}
	if e.Scheme != "http" && e.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: scheme must be http or https", c.Endpoint)
	}
	if e.Hostname() == "" {
		return nil, fmt.Errorf("endpoint %q has no host", c.Endpoint)
	}
	if p := e.Port(); p != "" || strings.HasSuffix(e.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("endpoint %q: port %q is not in 1..65535", c.Endpoint, p)
		}
	}
	if (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q must be scheme://host[:port] only", c.Endpoint)
	}
	if c.Region != "" && !regionRe.MatchString(c.Region) {
		return nil, errors.New("region must be lowercase letters, digits and '-' (e.g. us-east-1)")
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		return nil, fmt.Errorf("part_size %d is outside %d..%d (5 MiB..5 GiB)", c.PartSize, MinPartSize, MaxPartSize)
	}
	if c.CABundle != "" && e.Scheme != "https" {
		return nil, errors.New("ca_bundle applies only to an https endpoint")
	}
	return e, nil
}

// NewS3 builds the sink; it makes no request (Create checks the bucket).
func NewS3(cfg S3Config) (*S3, error) {
	e, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.Credentials.AccessKey == "" || cfg.Credentials.SecretKey == "" {
		return nil, errors.New("no S3 credentials (access key and secret key are both required)")
	}
	secure := e.Scheme == "https"
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if cfg.CABundle != "" {
		pem, err := os.ReadFile(cfg.CABundle)
		if err != nil {
			return nil, fmt.Errorf("ca_bundle: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_bundle %s holds no PEM certificate", cfg.CABundle)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	cr := cfg.Credentials
	core, err := minio.NewCore(e.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cr.AccessKey, cr.SecretKey, cr.SessionToken),
		Secure:     secure,
		Region:     region,
		Transport:  tr,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 sink: endpoint %s: %v", e.Host, err)
	}
	ps := cfg.PartSize
	if ps == 0 {
		ps = DefaultPartSize
	}
	var secrets []string
	for _, s := range []string{cr.AccessKey, cr.SecretKey, cr.SessionToken} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	return &S3{core: core, bucket: cfg.Bucket, host: e.Host, partSize: ps, secrets: secrets}, nil
}

// Exists implements Sink (HEAD; a 404 is confirmed against the bucket, so a missing bucket or
// a server that answers HEAD with 404 for bad credentials is an error, not "absent").
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	_, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if !isNotFound(err) {
		return false, s.fail("HEAD", key, err)
	}
	if err := s.checkBucket(ctx); err != nil {
		return false, err
	}
	return false, nil
}

// Create implements Sink. It checks that the bucket exists and the credentials are accepted;
// nothing is written before the first full part.
func (s *S3) Create(ctx context.Context, key string) (Upload, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &s3Upload{s: s, ctx: ctx, key: key, id: hex.EncodeToString(id[:])}, nil
}

// List implements Sink: committed objects only (in-progress multipart uploads are never listed).
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.core.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.fail("LIST", prefix+"*", obj.Err)
		}
		out = append(out, obj.Key)
	}
	sort.Strings(out)
	return out, nil
}

// Open implements Sink (GET).
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	rc, info, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, 0, ErrNotFound
		}
		return nil, 0, s.fail("GET", key, err)
	}
	return rc, info.Size, nil
}

// checkBucket lists at most one key: unlike HEAD, a GET's error body tells a missing bucket from
// refused credentials.
func (s *S3) checkBucket(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.core.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
		if obj.Err != nil {
			return s.fail("LIST", "", obj.Err)
		}
		break
	}
	return nil
}

// s3Error is a sink failure whose message names the endpoint, bucket and key but no secret.
type s3Error struct {
	msg   string
	cause error
}

func (e *s3Error) Error() string { return e.msg }
func (e *s3Error) Unwrap() error { return e.cause }

// fail describes err from operation op on key (may be "") without any credential.
func (s *S3) fail(op, key string, err error) error {
	var why string
	var ue *url.Error
	var ne net.Error
	switch r := minio.ToErrorResponse(err); {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		why = err.Error()
	case r.Code == minio.NoSuchBucket:
		return &s3Error{fmt.Sprintf("s3 sink: bucket %q does not exist at %s", s.bucket, s.host), err}
	case r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized || credentialCodes[r.Code]:
		why = "access denied (" + describe(r) + "); check the S3 credentials and the bucket's policy"
	case r.StatusCode >= 500:
		why = "server error " + describe(r) + " (retries exhausted)"
	case r.StatusCode != 0:
		why = describe(r)
	case errors.As(err, &ne) && ne.Timeout():
		why = "timed out: " + unwrapURL(err)
	case errors.As(err, &ue):
		why = unwrapURL(err)
	default:
		why = err.Error()
	}
	target := "s3://" + s.bucket + "/" + key
	if key == "" {
		target = "bucket " + strconv.Quote(s.bucket)
	}
	return &s3Error{s.redact(fmt.Sprintf("s3 sink: %s %s at %s: %s", op, target, s.host, why)), err}
}

// describe renders an S3 error response as "HTTP 503 SlowDown: message" (a HEAD has no body:
// then just the status).
func describe(r minio.ErrorResponse) string {
	s := "HTTP " + strconv.Itoa(r.StatusCode)
	if r.Code != "" && !strings.HasPrefix(r.Code, strconv.Itoa(r.StatusCode)) {
		s += " " + r.Code
	}
	if r.Message != "" && r.Message != r.Code {
		s += ": " + r.Message
	}
	return s
}

// unwrapURL drops the request URL from a transport error (the cause names the host already).
func unwrapURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

func (s *S3) redact(msg string) string {
	for _, sec := range s.secrets {
		msg = strings.ReplaceAll(msg, sec, "[redacted]")
	}
	return msg
}

// credentialCodes are error codes meaning the keys were refused, whatever the HTTP status
// (XAdminUserNotFound: versitygw's 404 for an unknown access key).
var credentialCodes = map[string]bool{
	minio.AccessDenied: true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "InvalidToken": true,
	"ExpiredToken": true, "TokenRefreshRequired": true, "XAdminUserNotFound": true,
}

func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket
}

func isPreconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed"
}

type s3Upload struct {
	s   *S3
	ctx context.Context // Create's: parts uploaded by Write run under it
	key string
	id  string // random, x-amz-meta-jackfruit-upload

	mu       sync.Mutex
	buf      []byte // the pending part, at most s.partSize
	uploadID string // "" until the first part is sent
	parts    []minio.CompletePart
	size     int64 // bytes written
	err      error // sticky: a part failed
	done     bool

	// One part uploads in the background while the next one fills (memory: two parts). Its result
	// arrives on inflight; its buffer is reused as the next part's once it is sent.
	inflight    chan partResult // nil when no part is being sent
	inflightBuf []byte
	spare       []byte
}

// options are the PutObject / initiate options: the object's user metadata.
func (u *s3Upload) options() minio.PutObjectOptions {
	meta := map[string]string{uploadMeta: u.id}
	if u.s.Attempt != "" {
		meta[AttemptMeta] = u.s.Attempt
	}
	return minio.PutObjectOptions{UserMetadata: meta}
}

func (u *s3Upload) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return 0, errClosed
	}
	if u.err != nil {
		return 0, u.err
	}
	n := 0
	for len(p) > 0 {
		if int64(len(u.buf)) == u.s.partSize {
			// A full part and more to come: this object is multipart.
			if err := u.sendPart(u.ctx); err != nil {
				u.err = err
				return n, err
			}
		}
		k := min(int64(len(p)), u.s.partSize-int64(len(u.buf)))
		u.grow(int(k))
		u.buf = append(u.buf, p[:k]...)
		p, n, u.size = p[k:], n+int(k), u.size+k
	}
	return n, nil
}

// grow makes room for k more bytes, never beyond one part.
func (u *s3Upload) grow(k int) {
	need := len(u.buf) + k
	if need <= cap(u.buf) {
		return
	}
	c := min(max(2*cap(u.buf), need, 64<<10), int(u.s.partSize))
	if c > 1<<20 {
		c = int(u.s.partSize) // past 1 MiB, straight to a whole part: no trail of doubled buffers to collect
	}
	nb := make([]byte, len(u.buf), c)
	copy(nb, u.buf)
	u.buf = nb
}

type partResult struct {
	etag, crc32c string
	err          error
}

// castagnoli is CRC-32C's table (hardware-accelerated by hash/crc32 where the CPU has it).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// partOptions send a part with an unsigned payload and its CRC-32C, which the server checks
// against the bytes it received (400 BadDigest on a mismatch) and keeps for the complete
// request. The payload is left out of the request's signature: over plain HTTP the SDK would
// otherwise sign it in 64 KiB chunks (a SHA-256 of every byte on each side, on top of the
// object's own), which halved the landing throughput on loopback (docs/benchmarks.md). The
// signature still covers the headers, the checksum among them, so a part's bytes are checked
// end to end at a few GB/s.
func partOptions(body []byte) minio.PutObjectPartOptions {
	h := make(http.Header, 2)
	h.Set(crc32cHeader, crc32cOf(body))
	h.Set(sdkChecksumHeader, "CRC32C")
	return minio.PutObjectPartOptions{DisableContentSha256: true, CustomHeader: h}
}

// crc32cOf is the value of an x-amz-checksum-crc32c header: the big-endian CRC-32C, base64.
func crc32cOf(body []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(body, castagnoli))
	return base64.StdEncoding.EncodeToString(sum[:])
}

const (
	crc32cHeader       = "x-amz-checksum-crc32c"
	sdkChecksumHeader  = "x-amz-sdk-checksum-algorithm" // names the checksum header sent (S3's Object Lock rule)
	checksumAlgoHeader = "x-amz-checksum-algorithm"     // on initiate: every part carries a CRC-32C
)

// sendPart starts uploading the buffered bytes as the next part (initiating the multipart upload
// first), after the previous part's upload has finished; the caller fills the other buffer meanwhile.
func (u *s3Upload) sendPart(ctx context.Context) error {
	if err := u.waitPart(); err != nil {
		return err
	}
	if len(u.parts) == maxParts {
		return fmt.Errorf("s3 sink: s3://%s/%s exceeds %d parts of %d bytes; raise part_size", u.s.bucket, u.key, maxParts, u.s.partSize)
	}
	if u.uploadID == "" {
		opts := u.options()
		opts.UserMetadata[checksumAlgoHeader] = "CRC32C" // sent as is (an x-amz-checksum-* header), not as metadata
		id, err := u.s.core.NewMultipartUpload(ctx, u.s.bucket, u.key, opts)
		if err != nil {
			return u.s.fail("initiate multipart upload", u.key, err)
		}
		u.uploadID = id
	}
	n := len(u.parts) + 1
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n})
	body, core, bucket, key, uploadID := u.buf, u.s.core, u.s.bucket, u.key, u.uploadID
	done := make(chan partResult, 1)
	go func() {
		p, err := core.PutObjectPart(ctx, bucket, key, uploadID, n, bytes.NewReader(body), int64(len(body)), partOptions(body))
		done <- partResult{p.ETag, p.ChecksumCRC32C, err}
	}()
	u.inflight, u.inflightBuf = done, body
	u.buf = u.spare[:0]
	u.spare = nil
	return nil
}

// waitPart waits for the part being sent, records its ETag and keeps its buffer for reuse.
func (u *s3Upload) waitPart() error {
	if u.inflight == nil {
		return nil
	}
	r := <-u.inflight
	u.inflight = nil
	u.spare, u.inflightBuf = u.inflightBuf[:0], nil
	n := len(u.parts)
	if r.err != nil {
		return u.s.fail(fmt.Sprintf("upload part %d", n), u.key, r.err)
	}
	u.parts[n-1].ETag, u.parts[n-1].ChecksumCRC32C = r.etag, r.crc32c
	return nil
}

// Commit publishes the object with If-None-Match: * — PutObject when it fits one part, else the
// last part and CompleteMultipartUpload.
func (u *s3Upload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return errClosed
	}
	u.done = true
	if u.err != nil {
		u.abortMultipart()
		return u.err
	}
	if err := ctx.Err(); err != nil {
		u.abortMultipart()
		return err
	}
	var err error
	var md5Base64 string
	if u.uploadID == "" {
		opts := u.options()
		opts.SetMatchETagExcept("*") // If-None-Match: *
		// the integrity headers: the server checks the bytes against them, and S3 refuses a PutObject
		// without Content-MD5 (or an SDK checksum header, which minio-go sends only as a trailer) into a
		// bucket with a default Object Lock retention; the CRC-32C as on every part
		opts.UserMetadata[crc32cHeader] = crc32cOf(u.buf)
		sum := md5.Sum(u.buf)
		md5Base64 = base64.StdEncoding.EncodeToString(sum[:])
		_, err = u.s.core.PutObject(ctx, u.s.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), md5Base64, "", opts)
	} else {
		if len(u.buf) > 0 {
			if err := u.sendPart(ctx); err != nil {
				u.abortMultipart()
				return err
			}
		}
		if err := u.waitPart(); err != nil {
			u.abortMultipart()
			return err
		}
		var opts minio.PutObjectOptions
		opts.SetMatchETagExcept("*") // sent on the CompleteMultipartUpload POST
		_, err = u.s.core.CompleteMultipartUpload(ctx, u.s.bucket, u.key, u.uploadID, u.parts, opts)
	}
	u.buf = nil
	if err == nil {
		return nil
	}
	return u.settle(ctx, err)
}

// settle decides a commit that failed with err. The object may be this upload's own: the server
// committed, the reply was lost, the SDK retried and got 412 (or gave up on another error). It is
// ours iff it carries this upload's id and size; then the commit succeeded. Otherwise a 412 is
// ErrConflict and the multipart upload, if any, is aborted.
func (u *s3Upload) settle(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		info, herr := u.s.core.StatObject(ctx, u.s.bucket, u.key, minio.StatObjectOptions{})
		if herr == nil && metaValue(info.UserMetadata, uploadMeta) == u.id &&
			metaValue(info.UserMetadata, AttemptMeta) == u.s.Attempt && info.Size == u.size {
			return nil
		}
	}
	u.abortMultipart()
	if isPreconditionFailed(err) {
		return ErrConflict
	}
	return u.s.fail("commit", u.key, err)
}

// metaValue looks a user metadata key up case-insensitively (servers canonicalise header names).
func metaValue(m map[string]string, k string) string {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v
		}
	}
	return ""
}

// Abort discards the upload: the multipart upload, if one was started, is aborted.
func (u *s3Upload) Abort() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return nil
	}
	u.done = true
	u.buf = nil
	return u.abortMultipart()
}

// abortMultipart aborts the multipart upload under a fresh deadline: Abort runs after the run's
// context is cancelled (SIGTERM, parent gone) and must still clean up.
func (u *s3Upload) abortMultipart() error {
	_ = u.waitPart() // a part still being sent finishes (or fails with the cancelled context) first
	if u.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := u.uploadID
	u.uploadID = ""
	if err := u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, id); err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
		return u.s.fail("abort multipart upload", u.key, err)
	}
	return nil
}
