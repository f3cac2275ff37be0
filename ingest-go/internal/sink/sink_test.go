package sink_test

import (
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
