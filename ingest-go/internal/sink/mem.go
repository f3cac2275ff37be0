package sink

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"sync"
)

// Memory is an in-process sink for tests and dry runs.
type Memory struct {
	mu      sync.Mutex
	objects map[string][]byte
}

// NewMemory returns an empty sink.
func NewMemory() *Memory { return &Memory{objects: map[string][]byte{}} }

// Exists implements Sink.
func (m *Memory) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.objects[key]
	return ok, nil
}

// Create implements Sink.
func (m *Memory) Create(ctx context.Context, key string) (Upload, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return &memUpload{m: m, key: key}, nil
}

// List implements Sink.
func (m *Memory) List(ctx context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Open implements Sink.
func (m *Memory) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// Put commits data at key as if uploaded (tests); ErrConflict if the key exists.
func (m *Memory) Put(key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok {
		return ErrConflict
	}
	m.objects[key] = bytes.Clone(data)
	return nil
}

// Get returns a copy of a committed object.
func (m *Memory) Get(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	return bytes.Clone(b), ok
}

type memUpload struct {
	m    *Memory
	key  string
	buf  bytes.Buffer
	done bool
}

func (u *memUpload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errClosed
	}
	return u.buf.Write(p)
}

func (u *memUpload) Commit(ctx context.Context) error {
	if u.done {
		return errClosed
	}
	u.done = true
	if err := ctx.Err(); err != nil {
		return err
	}
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	if _, ok := u.m.objects[u.key]; ok {
		return ErrConflict
	}
	u.m.objects[u.key] = bytes.Clone(u.buf.Bytes())
	return nil
}

func (u *memUpload) Abort() error {
	u.done = true
	u.buf.Reset()
	return nil
}
