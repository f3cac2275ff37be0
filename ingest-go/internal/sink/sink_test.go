package sink_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink"
	"github.com/jackfruit-data/jackfruit/ingest-go/internal/sink/sinktest"
)

func TestFSSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Reader) {
		dir := t.TempDir()
		s, err := sink.NewFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Every upload either committed or aborted must leave the staging area empty.
			if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
				t.Errorf("%d leftover staging files", len(ents))
			}
		})
		return s, func(t *testing.T, key string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}

func TestMemorySink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Reader) {
		m := sink.NewMemory()
		return m, func(t *testing.T, key string) []byte {
			b, ok := m.Get(key)
			if !ok {
				t.Fatalf("%s missing", key)
			}
			return b
		}
	})
}

const fsKey = "src/ds/2025-01-31/0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b.grib"

func TestFSStagesUnderTheAttemptAndCommitsReadOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := sink.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Attempt = "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6c"
	u, err := s.Create(context.Background(), fsKey)
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("raw"))
	staged, _ := filepath.Glob(filepath.Join(dir, ".partial", s.Attempt+".upload-*"))
	if len(staged) != 1 {
		t.Fatalf("staged files %v, want one %s.upload-*", staged, s.Attempt)
	}
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(fsKey)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o444 {
		t.Fatalf("committed mode %v, want 0444", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".partial")); len(ents) != 0 {
		t.Fatalf("%d staging files left", len(ents))
	}
}

func TestFSWithoutAttemptKeepsPlainStagingNames(t *testing.T) {
	dir := t.TempDir()
	s, _ := sink.NewFS(dir)
	u, err := s.Create(context.Background(), fsKey)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	if staged, _ := filepath.Glob(filepath.Join(dir, ".partial", "upload-*")); len(staged) != 1 {
		t.Fatalf("staged files %v", staged)
	}
}
