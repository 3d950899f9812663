// Package durable makes files and renames survive a crash: write to a
// temporary name, fsync, rename, fsync the folder.
package durable

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// SyncDir fsyncs a folder so that entries created, renamed or removed in it
// are on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// WriteFile atomically replaces path with data: readers see the old or the
// new content, never a mix, even after a crash.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith is WriteFile for content produced by a function.
func WriteWith(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// Rename moves old to new and fsyncs both folders, so the move is durable.
func Rename(oldPath, newPath string) error {
	if err := os.Rename(oldPath, newPath); err != nil {
		return err
	}
	od, nd := filepath.Dir(oldPath), filepath.Dir(newPath)
	if err := SyncDir(nd); err != nil {
		return err
	}
	if od != nd {
		return SyncDir(od)
	}
	return nil
}

// MkdirAll creates dir and its parents and fsyncs the parent, so a folder
// that later holds durable files is itself durable.
func MkdirAll(dir string, perm os.FileMode) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(dir))
}

// Move is Rename that also works across file systems (EXDEV), as when
// archive/ is on another disk than inbound/: it copies to a temporary name
// beside newPath, fsyncs it, renames it into place, fsyncs that folder, and
// only then removes oldPath (and fsyncs its folder). A crash in between
// leaves oldPath and a complete newPath with the same content, never a
// partial newPath; callers treat that as a move to finish.
func Move(oldPath, newPath string) error {
	err := Rename(oldPath, newPath)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyFile(oldPath, newPath); err != nil {
		return fmt.Errorf("move %s to %s: %w", oldPath, newPath, err)
	}
	return Remove(oldPath)
}

// copyFile copies src to dst durably, keeping its mode and times.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := WriteWith(dst, st.Mode().Perm(), func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}); err != nil {
		return err
	}
	return os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// Remove removes path and fsyncs its folder.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SameContent says whether two files hold the same bytes (size first, then
// SHA-256), e.g. to recognise the copy an interrupted Move left behind.
func SameContent(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ha, err := hashFile(a)
	if err != nil {
		return false, err
	}
	hb, err := hashFile(b)
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

func hashFile(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}
