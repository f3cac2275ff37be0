package sink

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// FS stores objects as files under Root; uploads are staged in Root/.partial on the same
// filesystem so the final publish is a hard link, which fails atomically if the target exists.
// Committed objects are read-only (0444).
type FS struct {
	Root string
	// Attempt, when set, names staged uploads Root/.partial/{Attempt}.upload-* so that whoever
	// expires the attempt can delete exactly its leftovers (.partial/{Attempt}.*) after a crash.
	Attempt string
}

const partialDir = ".partial"

// NewFS creates the root and staging directories.
func NewFS(root string) (*FS, error) {
	if err := os.MkdirAll(filepath.Join(root, partialDir), 0o755); err != nil {
		return nil, err
	}
	return &FS{Root: root}, nil
}

func (s *FS) path(key string) string { return filepath.Join(s.Root, filepath.FromSlash(key)) }

// Exists implements Sink.
func (s *FS) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	_, err := os.Lstat(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Create implements Sink.
func (s *FS) Create(ctx context.Context, key string) (Upload, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.Root, partialDir), s.stagePattern())
	if err != nil {
		return nil, err
	}
	return &fsUpload{s: s, key: key, f: f}, nil
}

// stagePattern is the os.CreateTemp pattern of staged uploads: "{Attempt}.upload-*" or "upload-*".
func (s *FS) stagePattern() string {
	if s.Attempt != "" {
		return s.Attempt + ".upload-*"
	}
	return "upload-*"
}

// Open implements Sink.
func (s *FS) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, errors.New("sink: not a regular file: " + key)
	}
	return f, st.Size(), nil
}

// List implements Sink.
func (s *FS) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == partialDir && filepath.Dir(p) == filepath.Clean(s.Root) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(s.Root, p)
			if err != nil {
				return err
			}
			if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
				out = append(out, k)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

type fsUpload struct {
	s    *FS
	key  string
	mu   sync.Mutex
	f    *os.File
	done bool
}

func (u *fsUpload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errClosed
	}
	return u.f.Write(p)
}

func (u *fsUpload) Commit(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return errClosed
	}
	u.done = true
	tmp := u.f.Name()
	defer os.Remove(tmp) // after a successful link the object lives on under its final name
	// Raw objects are evidence: read-only once published (the link shares this inode's mode).
	if err := u.f.Chmod(0o444); err != nil {
		u.f.Close()
		return err
	}
	if err := u.f.Sync(); err != nil {
		u.f.Close()
		return err
	}
	if err := u.f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := u.s.path(u.key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrConflict
		}
		return err
	}
	// Make the new directory entry durable.
	if d, err := os.Open(dir); err == nil {
		serr := d.Sync()
		d.Close()
		return serr
	}
	return nil
}

func (u *fsUpload) Abort() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return nil
	}
	u.done = true
	u.f.Close()
	return os.Remove(u.f.Name())
}
