package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"roamsettle/pkg/durable"
)

// ReadyLockFile is the lock every move into ready/ is made under (see
// LockReady).
const ReadyLockFile = ".ready.lock"

// LockReady takes the ready lock, an exclusive flock(2) on
// <spool>/.ready.lock, waiting for it when another process (or another
// Store of this one) holds it. Whoever renames files into ready/ holds it
// around one batch of renames and the fsync of ready/ that follows, and
// push holds it while it swaps ready/ for an empty folder when it settles
// a batch (docs/push.md): so a file is never renamed into a ready/ that
// push is moving away, and push never moves a file whose move is not yet
// durable. Held for one commit, not per file. The kernel drops it when the
// holder dies.
//
// With the lock held, LockReady makes sure ready/ exists: a push that
// crashed between moving ready/ away and making the new one leaves none,
// and the next holder makes it (durably) rather than failing.
func (l Layout) LockReady() (unlock func() error, err error) {
	path := filepath.Join(l.Root, ReadyLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("spool: ready lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: ready lock %s: %w", path, err)
	}
	if err := durable.MkdirAll(l.Ready(), 0o755); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f.Close, nil // closing the only descriptor drops the flock
}
