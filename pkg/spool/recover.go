package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"roamsettle/pkg/durable"
)

// recoverJournal finishes, oldest first, what the segments left by a
// stopped or crashed Store describe, and removes them. Without a
// checkpoint mark, every journaled record is put into its session file
// unless the file already holds that exact line (so never twice); then the
// closes are redone. After a mark only the closes are. It can run again
// after a crash of its own.
func recoverJournal(l Layout) error {
	seqs, err := segments(l)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		path := segmentPath(l, seq)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		ents := parseEntries(data)
		if n := len(ents); n == 0 || ents[n-1].kind != entryCheckpoint {
			if err := replayAppends(l, ents); err != nil {
				return err
			}
		}
		var closes []string
		for _, e := range ents {
			if e.kind == entryClose {
				closes = append(closes, e.name)
			}
		}
		if err := moveAll(l, closes, true); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		if err := durable.SyncDir(l.Journal()); err != nil {
			return err
		}
	}
	return nil
}

// moveAll moves closed sessions to ready/ and syncs both folders. With
// redo, a name no longer in open/ was moved before a crash.
// The moves and the fsync of ready/ are made under the ready lock.
func moveAll(l Layout, names []string, redo bool) error {
	if len(names) == 0 {
		return nil
	}
	unlock, err := l.LockReady()
	if err != nil {
		return err
	}
	for _, name := range names {
		if redo {
			if _, err := os.Stat(filepath.Join(l.Open(), name)); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err := moveToReady(l, name); err != nil {
			unlock()
			return fmt.Errorf("journal: %w", err)
		}
	}
	err = durable.SyncDir(l.Ready())
	if uerr := unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	return durable.SyncDir(l.Open())
}

// replayAppends makes sure every journaled record is in its session file.
func replayAppends(l Layout, ents []entry) error {
	var order []string
	lines := map[string][][]byte{}
	for _, e := range ents {
		if e.kind != entryAppend {
			continue
		}
		if _, err := ParseLine(e.line); err != nil {
			return fmt.Errorf("journal: entry for %s: %w", e.name, err)
		}
		if _, seen := lines[e.name]; !seen {
			order = append(order, e.name)
		}
		lines[e.name] = append(lines[e.name], e.line)
	}
	for _, name := range order {
		if err := ensureLines(filepath.Join(l.Open(), name), lines[name]); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	if len(order) > 0 {
		return durable.SyncDir(l.Open())
	}
	return nil
}

// ensureLines appends to path those of lines it does not hold yet, and
// fsyncs it.
func ensureLines(path string, lines [][]byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := repairTail(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	have := map[string]bool{}
	if size > 0 {
		data := make([]byte, size)
		if _, err := f.ReadAt(data, 0); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, ln := range bytes.Split(data, []byte{'\n'}) {
			have[string(ln)] = true
		}
	}
	var buf []byte
	if size == 0 {
		buf = append(buf, Header...)
		buf = append(buf, '\n')
	}
	for _, ln := range lines {
		if !have[string(ln)] {
			have[string(ln)] = true
			buf = append(append(buf, ln...), '\n')
		}
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := f.WriteAt(buf, size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}
