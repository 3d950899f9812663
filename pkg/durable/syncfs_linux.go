package durable

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS flushes the whole file system holding dir and waits for it:
// data, metadata and the journal, with one cache flush — one call for a
// folder of many files instead of an fsync each. Since Linux 5.8 it also
// reports write-back errors of any file on it.
func SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
