package sink_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink/s3test"
)

// BenchmarkS3 measures the S3 sink (conditional commit; SHA-256 of the stream as the ingester computes it,
// io.Copy writes of 32 KiB) beside minio-go's Core doing the same thing unconditionally and without the hash:
// the same multipart upload and part size (the sink sends a part while the next fills; the baseline sends
// its parts one after another), and a GET read to
// the end. Object size: $JACKFRUIT_BENCH_S3_MIB MiB (default 1024; CI: 32). Needs the loopback server:
//
//	eval "$(scripts/s3-server env)"; cd ingest-go
//	go test ./internal/sink -run '^$' -bench BenchmarkS3 -benchtime 1x
//
// MB/s is b.SetBytes's; RSS+MiB is peak RSS minus RSS before the operation (VmHWM reset through
// /proc/self/clear_refs), bound: two parts (one filling, one being sent) + 32 MiB.
func BenchmarkS3(b *testing.B) {
	env := s3test.Lookup(b)
	size := int64(1024) << 20
	if v := os.Getenv("JACKFRUIT_BENCH_S3_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n << 20
	}
	bucket := env.Bucket(b)
	cfg := env.Config(bucket)
	s, err := sink.NewS3(cfg) // default part size (16 MiB)
	if err != nil {
		b.Fatal(err)
	}
	core := env.Client(b)
	ctx := context.Background()
	partSize := int(sink.DefaultPartSize)

	// measure runs op b.N times on fresh keys; a download's object is put first, untimed.
	measure := func(b *testing.B, key string, download bool, op func(key string)) {
		b.SetBytes(size)
		b.ReportAllocs()
		var peak int64
		for i := 0; i < b.N; i++ {
			k := key + "-" + strconv.Itoa(i)
			if download {
				b.StopTimer()
				if _, err := core.PutObject(ctx, bucket, k, io.LimitReader(newXorshift(2), size), size, "", "",
					minio.PutObjectOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			before := resetPeak()
			op(k)
			peak = max(peak, vm("VmHWM")-before)
		}
		b.ReportMetric(float64(peak)/(1<<20), "RSS+MiB")
	}
	b.Run("upload/sink", func(b *testing.B) {
		measure(b, "up-sink", false, func(key string) {
			u, err := s.Create(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.CopyBuffer(io.MultiWriter(u, h), io.LimitReader(newXorshift(1), size), make([]byte, 32<<10)); err != nil {
				b.Fatal(err)
			}
			if err := u.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("upload/minio-core", func(b *testing.B) {
		measure(b, "up-core", false, func(key string) {
			id, err := core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			src, buf := io.LimitReader(newXorshift(1), size), make([]byte, partSize)
			var parts []minio.CompletePart
			for n := 1; ; n++ {
				k, err := io.ReadFull(src, buf)
				if k == 0 {
					break
				}
				p, perr := core.PutObjectPart(ctx, bucket, key, id, n, bytes.NewReader(buf[:k]), int64(k), minio.PutObjectPartOptions{})
				if perr != nil {
					b.Fatal(perr)
				}
				parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
				if err != nil { // io.ErrUnexpectedEOF: that was the last part
					break
				}
			}
			if _, err := core.CompleteMultipartUpload(ctx, bucket, key, id, parts, minio.PutObjectOptions{}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("download/sink", func(b *testing.B) {
		measure(b, "down-sink", true, func(key string) {
			rc, _, err := s.Open(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			defer rc.Close()
			if n, err := io.Copy(sha256.New(), rc); err != nil || n != size {
				b.Fatal(n, err)
			}
		})
	})
	b.Run("download/minio-core", func(b *testing.B) {
		measure(b, "down-core", true, func(key string) {
			rc, _, _, err := core.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer rc.Close()
			if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
				b.Fatal(n, err)
			}
		})
	})
}

// xorshift is an endless stream of pseudo-random bytes (incompressible, nothing held in memory).
type xorshift struct{ x uint64 }

func newXorshift(seed uint64) *xorshift { return &xorshift{seed*0x9E3779B97F4A7C15 | 1} }

func (r *xorshift) Read(p []byte) (int, error) {
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		r.x ^= r.x << 13
		r.x ^= r.x >> 7
		r.x ^= r.x << 17
		binary.LittleEndian.PutUint64(w[:], r.x)
		copy(p[i:], w[:])
	}
	return len(p), nil
}

var statusField = regexp.MustCompile(`(?m)^(\w+):\s+(\d+) kB`)

// vm is a field of /proc/self/status in bytes (0 if absent).
func vm(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, m := range statusField.FindAllSubmatch(b, -1) {
		if string(m[1]) == field {
			n, _ := strconv.ParseInt(string(m[2]), 10, 64)
			return n << 10
		}
	}
	return 0
}

// resetPeak resets VmHWM to the current RSS and returns that RSS.
func resetPeak() int64 {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return vm("VmRSS")
}
