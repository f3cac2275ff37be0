// Package sink defines write-once object storage for ingested files, with filesystem and in-memory backends.
package sink

import (
	"context"
	"errors"
	"io"
	"strings"
)

// ErrConflict means the object already exists; sinks never overwrite.
var ErrConflict = errors.New("sink: object already exists")

// ErrNotFound means no committed object exists at the key.
var ErrNotFound = errors.New("sink: object not found")

// Sink is write-once object storage. The shape (Exists / streaming Create with explicit Commit / Open)
// maps onto S3 as HEAD + multipart upload completed with If-None-Match: * + GET.
type Sink interface {
	// Exists reports whether a committed object exists at key.
	Exists(ctx context.Context, key string) (bool, error)
	// Create starts an upload; nothing is visible at key until Commit succeeds.
	Create(ctx context.Context, key string) (Upload, error)
	// List returns committed keys with the given prefix, sorted; never partial uploads.
	List(ctx context.Context, prefix string) ([]string, error)
	// Open reads a committed object and returns its size; ErrNotFound if there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
}

// Upload is an in-progress object write.
type Upload interface {
	io.Writer
	// Commit publishes the object atomically; ErrConflict if the key appeared meanwhile.
	Commit(ctx context.Context) error
	// Abort discards the upload; safe to call after Commit (no-op) or twice.
	Abort() error
}

// checkKey rejects keys that could escape a sink root or collide with its bookkeeping;
// callers validate the full key grammar (package objkey) before reaching a sink.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.Contains(key, "\x00") {
		return errors.New("sink: invalid key")
	}
	for _, p := range strings.Split(key, "/") {
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".partial") {
			return errors.New("sink: invalid key")
		}
	}
	return nil
}

var errClosed = errors.New("sink: upload already committed or aborted")
