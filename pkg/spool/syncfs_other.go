//go:build !linux

package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// syncFS has no portable single call; sync(2) would do but Go does not
// offer it everywhere, so journal mode is for Linux hosts.
func syncFS(dir string) error {
	return fmt.Errorf("syncfs %s: journal mode needs Linux", dir)
}

func datasync(f *os.File) error { return f.Sync() }

// writeNew creates path, which must not exist, and writes b into it,
// without fsync. It reports false, with no error, when path exists
// already.
func writeNew(path string, b []byte) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil, err
}

// renameNoReplace is not offered here: moveToReady looks with a stat.
func renameNoReplace(from, to string) error { return errors.ErrUnsupported }
