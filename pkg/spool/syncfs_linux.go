package spool

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system holding dir and waits for it:
// data, metadata and the journal, with one cache flush. Since Linux 5.8 it
// also reports write-back errors of any file on it.
func syncFS(dir string) error {
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

// datasync is fdatasync(2): the journal's data and size, not its times.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
