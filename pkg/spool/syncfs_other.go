//go:build !linux

package spool

import (
	"fmt"
	"os"
)

// syncFS has no portable single call; sync(2) would do but Go does not
// offer it everywhere, so journal mode is for Linux hosts.
func syncFS(dir string) error {
	return fmt.Errorf("syncfs %s: journal mode needs Linux", dir)
}

func datasync(f *os.File) error { return f.Sync() }
