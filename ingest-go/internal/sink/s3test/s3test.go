// Package s3test gives tests a real S3 server: its coordinates come from the environment
// (eval "$(scripts/s3-server env)" at the repo root) and each test gets its own bucket.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// Env holds the server's coordinates.
type Env struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
}

// Lookup reads JACKFRUIT_TEST_S3_ENDPOINT, _ACCESS_KEY and _SECRET_KEY. When one is missing the
// test is skipped — but fails when CI=true: tests that need a real service never skip in CI.
func Lookup(t testing.TB) Env {
	t.Helper()
	e := Env{os.Getenv("JACKFRUIT_TEST_S3_ENDPOINT"), os.Getenv("JACKFRUIT_TEST_S3_ACCESS_KEY"), os.Getenv("JACKFRUIT_TEST_S3_SECRET_KEY")}
	if e.Endpoint == "" || e.AccessKey == "" || e.SecretKey == "" {
		const why = "no S3 test server: run scripts/s3-server start, then eval \"$(scripts/s3-server env)\" " +
			"(JACKFRUIT_TEST_S3_ENDPOINT, JACKFRUIT_TEST_S3_ACCESS_KEY, JACKFRUIT_TEST_S3_SECRET_KEY)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return e
}

// Client is a plain SDK client on the server, independent of the sink under test.
func (e Env) Client(t testing.TB) *minio.Core {
	t.Helper()
	u, err := url.Parse(e.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.NewCore(u.Host, &minio.Options{
		Creds: credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""), Secure: u.Scheme == "https", Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Config is the sink configuration for bucket with the test credentials.
func (e Env) Config(bucket string) sink.S3Config {
	return sink.S3Config{Endpoint: e.Endpoint, Region: "us-east-1", Bucket: bucket,
		Credentials: sink.S3Credentials{AccessKey: e.AccessKey, SecretKey: e.SecretKey}}
}

// Bucket creates a uniquely named bucket and removes it (objects and multipart uploads
// included) when the test ends.
func (e Env) Bucket(t testing.TB) string {
	t.Helper()
	c := e.Client(t)
	var r [6]byte
	rand.Read(r[:])
	name := "jf-test-" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("create test bucket %s at %s: %v", name, e.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for _, u := range Uploads(t, c, name, "") {
			c.AbortMultipartUpload(ctx, name, u.Key, u.UploadID)
		}
		for obj := range c.ListObjectsIter(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				c.RemoveObject(ctx, name, obj.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := c.RemoveBucket(ctx, name); err != nil {
			t.Errorf("remove test bucket %s: %v", name, err)
		}
	})
	return name
}

// Uploads lists the in-progress multipart uploads under prefix.
func Uploads(t testing.TB, c *minio.Core, bucket, prefix string) []minio.ObjectMultipartInfo {
	t.Helper()
	res, err := c.ListMultipartUploads(context.Background(), bucket, prefix, "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return res.Uploads
}

// Get reads a whole object with the plain client.
func Get(t testing.TB, c *minio.Core, bucket, key string) []byte {
	t.Helper()
	rc, _, _, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// Meta returns an object's user metadata value for key (case-insensitive), and its size.
func Meta(t testing.TB, c *minio.Core, bucket, object, key string) (string, int64) {
	t.Helper()
	info, err := c.StatObject(context.Background(), bucket, object, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat %s: %v", object, err)
	}
	for k, v := range info.UserMetadata {
		if strings.EqualFold(k, key) {
			return v, info.Size
		}
	}
	return "", info.Size
}
