// Package sinktest is the conformance suite every sink.Sink implementation must pass.
package sinktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
)

// Reader lets the suite read back committed objects; each backend supplies one.
type Reader func(t *testing.T, key string) []byte

const key = "src/ds/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"

// Run exercises s (fresh, empty) and reads objects back through read.
func Run(t *testing.T, newSink func(t *testing.T) (sink.Sink, Reader)) {
	ctx := context.Background()
	put := func(t *testing.T, s sink.Sink, k string, data []byte) error {
		t.Helper()
		u, err := s.Create(ctx, k)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := u.Write(data); err != nil {
			t.Fatalf("Write: %v", err)
		}
		return u.Commit(ctx)
	}

	t.Run("WriteOnce", func(t *testing.T) {
		s, read := newSink(t)
		if ok, err := s.Exists(ctx, key); err != nil || ok {
			t.Fatalf("Exists before = %v, %v", ok, err)
		}
		if err := put(t, s, key, []byte("first")); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if ok, _ := s.Exists(ctx, key); !ok {
			t.Fatal("object not visible after commit")
		}
		if got := read(t, key); string(got) != "first" {
			t.Fatalf("content %q", got)
		}
		if err := put(t, s, key, []byte("second")); !errors.Is(err, sink.ErrConflict) {
			t.Fatalf("second commit err = %v, want ErrConflict", err)
		}
		if got := read(t, key); string(got) != "first" {
			t.Fatalf("overwritten: %q", got)
		}
	})

	t.Run("NotVisibleBeforeCommit", func(t *testing.T) {
		s, _ := newSink(t)
		u, err := s.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		u.Write(bytes.Repeat([]byte("x"), 1<<16))
		if ok, _ := s.Exists(ctx, key); ok {
			t.Fatal("partial upload visible via Exists")
		}
		if l, _ := s.List(ctx, ""); len(l) != 0 {
			t.Fatalf("partial upload listed: %v", l)
		}
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.List(ctx, ""); len(l) != 1 || l[0] != key {
			t.Fatalf("List = %v", l)
		}
	})

	t.Run("AbortLeavesNothing", func(t *testing.T) {
		s, _ := newSink(t)
		u, err := s.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte("doomed"))
		if err := u.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := u.Abort(); err != nil {
			t.Fatalf("second Abort: %v", err)
		}
		if err := u.Commit(ctx); err == nil {
			t.Fatal("Commit after Abort succeeded")
		}
		if ok, _ := s.Exists(ctx, key); ok {
			t.Fatal("aborted object exists")
		}
		if l, _ := s.List(ctx, ""); len(l) != 0 {
			t.Fatalf("List after abort = %v", l)
		}
	})

	t.Run("ConcurrentCommitsOneWins", func(t *testing.T) {
		s, read := newSink(t)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		ups := make([]sink.Upload, n)
		for i := range ups {
			u, err := s.Create(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(u, "writer-%02d", i)
			ups[i] = u
		}
		for i := range ups {
			wg.Add(1)
			go func(i int) { defer wg.Done(); errs[i] = ups[i].Commit(ctx) }(i)
		}
		wg.Wait()
		winners := 0
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				winner = fmt.Sprintf("writer-%02d", i)
			case !errors.Is(err, sink.ErrConflict):
				t.Errorf("commit %d: %v", i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("%d winners, want 1", winners)
		}
		if got := string(read(t, key)); got != winner {
			t.Fatalf("content %q, winner %q", got, winner)
		}
		if l, _ := s.List(ctx, ""); len(l) != 1 {
			t.Fatalf("List = %v", l)
		}
	})

	t.Run("ListPrefixAndLargeObject", func(t *testing.T) {
		s, read := newSink(t)
		other := "src/other/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, several writes' worth
		u, _ := s.Create(ctx, key)
		if _, err := io.Copy(u, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := put(t, s, other, []byte("o")); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.List(ctx, "src/ds/"); len(l) != 1 || l[0] != key {
			t.Fatalf("List(prefix) = %v", l)
		}
		if !bytes.Equal(read(t, key), big) {
			t.Fatal("large object corrupted")
		}
	})

	t.Run("OpenReadsCommittedObjectsOnly", func(t *testing.T) {
		s, _ := newSink(t)
		if _, _, err := s.Open(ctx, key); !errors.Is(err, sink.ErrNotFound) {
			t.Fatalf("Open before commit err = %v, want ErrNotFound", err)
		}
		u, err := s.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte("staged"))
		if _, _, err := s.Open(ctx, key); !errors.Is(err, sink.ErrNotFound) {
			t.Fatalf("Open of a staged upload err = %v, want ErrNotFound", err)
		}
		big := bytes.Repeat([]byte("evidence"), 1<<15)
		u.Write(big)
		if err := u.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		rc, size, err := s.Open(ctx, key)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte("staged"), big...)
		if size != int64(len(want)) || !bytes.Equal(got, want) {
			t.Fatalf("Open size %d (%d bytes read), want %d", size, len(got), len(want))
		}
	})

	t.Run("RejectsEscapingKeys", func(t *testing.T) {
		s, _ := newSink(t)
		for _, k := range []string{"", "/abs", "a/../../b", "a//b", ".partial/x"} {
			if _, err := s.Create(ctx, k); err == nil {
				t.Errorf("Create(%q) accepted", k)
			}
			if _, _, err := s.Open(ctx, k); err == nil || errors.Is(err, sink.ErrNotFound) {
				t.Errorf("Open(%q) err = %v, want a key error", k, err)
			}
		}
	})
}
