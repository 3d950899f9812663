//go:build !linux

package durable

import "errors"

// SyncFS has no portable single call here: callers fsync file by file.
func SyncFS(dir string) error { return errors.ErrUnsupported }
