// Package local delivers batches (push) and reports (publish) to a folder
// on this host: the demo's default destination, or a mounted share.
package local

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"roamsettle/pkg/durable"
)

// Dir is a destination folder.
type Dir struct{ path string }

// Open makes the destination folder when missing and returns it.
func Open(path string) (*Dir, error) {
	if err := durable.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("push folder %s: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// TempName is where name is written before it is renamed into place: in
// the same folder, a leading '.' so the loader never takes it
// (docs/batch.md). It is fixed, so a run after a crash overwrites the
// leftover instead of adding one.
func TempName(name string) string {
	return path.Join(path.Dir(name), "."+path.Base(name)+".part")
}

// file is the local path of name, a slash-separated path that must stay
// inside the folder.
func (d *Dir) file(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." {
		return "", fmt.Errorf("%s: bad name %q: want a slash-separated path inside the folder", d.path, name)
	}
	return filepath.Join(d.path, filepath.FromSlash(name)), nil
}

// mkdirs makes the folders of name that are missing, one level at a time
// so that each new folder's parent is fsynced (durable.MkdirAll fsyncs
// only the last one's).
func (d *Dir) mkdirs(name string) error {
	dir := d.path
	for _, seg := range strings.Split(path.Dir(name), "/") {
		if seg == "." {
			continue
		}
		dir = filepath.Join(dir, seg)
		if err := durable.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Put copies the local file to name in the folder (making its folders
// when missing): to TempName(name), fsynced and size-checked, then renamed
// into place and the folder fsynced. progress, when not nil, gets the
// bytes copied as they go.
func (d *Dir) Put(ctx context.Context, localPath, name string, progress func(int64)) error {
	final, err := d.file(name)
	if err != nil {
		return err
	}
	src, err := os.Open(localPath)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if err := d.mkdirs(name); err != nil {
		return err
	}
	tmp := filepath.Join(d.path, filepath.FromSlash(TempName(name)))
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return fmt.Errorf("write %s: %w", tmp, err)
			}
			if progress != nil {
				progress(int64(n))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := dst.Close(); err != nil {
		return err
	}
	got, err := os.Stat(tmp)
	if err != nil {
		return err
	}
	if got.Size() != st.Size() {
		return fmt.Errorf("%s: %d bytes written, %s has %d", tmp, got.Size(), localPath, st.Size())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	ok = true
	return durable.SyncDir(filepath.Dir(final))
}

// Stat describes name in the folder; fs.ErrNotExist when it is not there.
func (d *Dir) Stat(_ context.Context, name string) (fs.FileInfo, error) {
	p, err := d.file(name)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}

// ReadFile returns the content of name, at most max bytes: a larger file
// is an error. fs.ErrNotExist when name is not there.
func (d *Dir) ReadFile(_ context.Context, name string, max int64) ([]byte, error) {
	p, err := d.file(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than the %d bytes allowed", p, max)
	}
	return b, nil
}

// Close does nothing: a folder holds no connection.
func (d *Dir) Close() error { return nil }

// String names the destination in messages.
func (d *Dir) String() string { return d.path }
