// Package durable makes files and renames survive a crash: write to a
// temporary name, fsync, rename, fsync the folder.
package durable

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
