// Package lock keeps one run at a time per data folder, with flock(2) on a
// lock file that also says who holds it. The kernel drops the lock when the
// holder dies, so a kill -9 never leaves a stale lock behind.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// HeldError says the lock is held by another run.
type HeldError struct {
	Path   string
	Holder string // what the holder wrote: pid, command, start time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by another run (%s); give --wait to wait for it", e.Path, e.Holder)
}

// Lock is a held lock; Release lets it go.
type Lock struct {
	f *os.File
}

// Acquire takes the lock file name in dir for the command what. With wait
// it blocks until the lock is free or ctx ends, calling waiting (when not
// nil) once with what the holder wrote; otherwise a held lock returns
// *HeldError at once.
func Acquire(ctx context.Context, dir, name, what string, wait bool, waiting func(holder string)) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			f.Close()
			return nil, &HeldError{Path: path, Holder: holder(path)}
		}
		if waiting != nil {
			waiting(holder(path))
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on %s, %s, since %s\n", os.Getpid(), host, what, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f}, nil
}

// holder is what the lock's holder wrote in it.
func holder(path string) string {
	b, _ := os.ReadFile(path)
	if h := strings.TrimSpace(string(b)); h != "" {
		return h
	}
	return "unknown holder"
}

// Release lets the lock go. The file stays, so its inode stays the same for
// every run.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}
