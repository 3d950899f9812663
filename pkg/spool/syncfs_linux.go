package spool

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"roamsettle/pkg/durable"
)

// syncFS flushes the whole file system holding dir (durable.SyncFS).
func syncFS(dir string) error { return durable.SyncFS(dir) }

// datasync is fdatasync(2): the journal's data and size, not its times.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// writeNew creates path, which must not exist, and writes b into it,
// without fsync: one openat (O_EXCL), one pwrite (unless short) and a
// close, with no os.File (no poller registration, no fstat). It reports
// false, with no error, when path exists already.
func writeNew(path string, b []byte) (bool, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EEXIST {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	for off := int64(0); len(b) > 0; {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			err = unix.EIO
		}
		if err != nil {
			unix.Close(fd)
			return false, &os.PathError{Op: "write", Path: path, Err: err}
		}
		b = b[n:]
		off += int64(n)
	}
	if err := unix.Close(fd); err != nil {
		return false, &os.PathError{Op: "close", Path: path, Err: err}
	}
	return true, nil
}

// renameNoReplace renames from to to unless to exists (an error matching
// fs.ErrExist); errors.ErrUnsupported where the file system cannot.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		return errors.ErrUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
