package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"roamsettle/pkg/durable"
)

// group is one commit of the Store: appends to open session files, then
// one fsync per touched file, then the moves to ready/, then one fsync per
// folder. Nothing is acknowledged before commit returns.
type group struct {
	l       Layout
	files   map[string]*groupFile // by name in open/
	order   []string
	created bool
	closes  []string // names in open/ to move to ready/, in order
	buf     []byte
	journal *pendingWrites // journal mode: appends wait here for the checkpoint
	entries []byte         // journal entries of the group
}

type groupFile struct {
	f   *os.File
	off int64
}

func newGroup(l Layout) *group { return &group{l: l, files: map[string]*groupFile{}} }

func (g *group) append(name string, r *Record) error {
	if g.journal != nil {
		g.buf = r.AppendLine(g.buf[:0])
		line := g.buf[:len(g.buf)-1]
		g.entries = appendEntry(g.entries, entryAppend, name, line)
		g.journal.add(name, line)
		return nil
	}
	gf, ok := g.files[name]
	if !ok {
		p := filepath.Join(g.l.Open(), name)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		size, err := repairTail(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", p, err)
		}
		gf = &groupFile{f: f, off: size}
		g.files[name] = gf
		g.order = append(g.order, name)
	}
	g.buf = g.buf[:0]
	if gf.off == 0 {
		g.buf = append(g.buf, Header...)
		g.buf = append(g.buf, '\n')
		g.created = true
	}
	g.buf = r.AppendLine(g.buf)
	if _, err := gf.f.WriteAt(g.buf, gf.off); err != nil {
		return fmt.Errorf("%s: %w", gf.f.Name(), err)
	}
	gf.off += int64(len(g.buf))
	return nil
}

// fsyncWorkers bounds parallel fsyncs; the file system batches concurrent
// fsyncs into fewer journal commits.
const fsyncWorkers = 32

func (g *group) commit() error {
	if err := g.syncFiles(); err != nil {
		return err
	}
	if len(g.closes) > 0 {
		if err := moveToReadyLocked(g.l, g.closes); err != nil {
			return err
		}
	}
	if g.created || len(g.closes) > 0 {
		if err := durable.SyncDir(g.l.Open()); err != nil {
			return err
		}
	}
	g.closes = nil
	return nil
}

func (g *group) syncFiles() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		work = make(chan *groupFile)
	)
	n := min(fsyncWorkers, len(g.order))
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gf := range work {
				err := gf.f.Sync()
				if cerr := gf.f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("fsync %s: %w", gf.f.Name(), err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, name := range g.order {
		work <- g.files[name]
	}
	close(work)
	wg.Wait()
	g.files, g.order = map[string]*groupFile{}, nil
	return errors.Join(errs...)
}

// moveToReadyLocked moves closed sessions from open/ to ready/ and fsyncs
// ready/, all under the ready lock (one flock for the whole batch), so a
// push settling a batch never swaps ready/ away in the middle.
func moveToReadyLocked(l Layout, names []string) (err error) {
	unlock, err := l.LockReady()
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}()
	for _, name := range names {
		if err := moveToReady(l, name); err != nil {
			return err
		}
	}
	return durable.SyncDir(l.Ready())
}

// moveToReady renames open/name into ready/, with a "+N" suffix when
// ready/ already has that name (a late record of a session closed earlier).
// The rename does not replace (renameat2 RENAME_NOREPLACE), so a taken
// name costs a retry instead of every move a stat; where the file system
// cannot do that, a stat looks first. Either way under the ready lock.
func moveToReady(l Layout, name string) error { return moveToReadyWith(l, name, renameNoReplace) }

// moveToReadyWith is moveToReady with the no-replace rename given (tests
// give one that is unsupported, to take the stat path).
func moveToReadyWith(l Layout, name string, renameNoReplace func(from, to string) error) error {
	base := strings.TrimSuffix(name, FileExt)
	target := name
	from := filepath.Join(l.Open(), name)
	for i := 1; ; i++ {
		err := renameNoReplace(from, filepath.Join(l.Ready(), target))
		if errors.Is(err, errors.ErrUnsupported) {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		target = fmt.Sprintf("%s+%d%s", base, i, FileExt)
	}
	target = name
	for i := 1; ; i++ {
		if _, err := os.Stat(filepath.Join(l.Ready(), target)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s+%d%s", base, i, FileExt)
	}
	return os.Rename(filepath.Join(l.Open(), name), filepath.Join(l.Ready(), target))
}

// abort closes any files left open by a failed group.
func (g *group) abort() {
	for _, gf := range g.files {
		gf.f.Close()
	}
}
