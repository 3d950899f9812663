package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// NotRegularError is a file that is not a regular file, refused before a
// byte of it is read.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
	Why  string // what the caller reads, for the message
}

func (e *NotRegularError) Error() string {
	kind := "not a regular file"
	switch t := e.Mode.Type(); {
	case t&fs.ModeSymlink != 0:
		kind = "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	case t&fs.ModeDir != 0:
		kind = "a folder"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return fmt.Sprintf("%s: %s, not a regular file: %s", e.Path, kind, e.Why)
}

// OpenRegular opens a file for reading only if it is a regular file: a
// named pipe would block the open (and the run, its lock held) for ever,
// and a device would be read without end. O_NONBLOCK keeps open(2) from
// waiting for a pipe's writer and changes nothing for a regular file;
// checking the opened file, not a stat before the open, leaves no window
// for a swap. With followLinks false a symbolic link is refused too (a
// drop folder's link could point anywhere on the host). why ends the
// message of a refusal.
func OpenRegular(path string, followLinks bool, why string) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !followLinks {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if !followLinks && errors.Is(err, syscall.ELOOP) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &NotRegularError{path, fi.Mode(), why}
		}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{path, fi.Mode(), why}
	}
	return f, nil
}
