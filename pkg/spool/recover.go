package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"roamsettle/pkg/durable"
)

// recoverJournal finishes, oldest first, what the segments left by a
// stopped or crashed Store describe, and removes them. Without a
// checkpoint mark, every journaled record is put into its session file
// unless the file already holds that exact line (so never twice); then the
// closes are redone. After a mark only the closes are. It can run again
// after a crash of its own.
func recoverJournal(l Layout) ([]Aside, error) {
	seqs, err := segments(l)
	if err != nil {
		return nil, err
	}
	var asides []Aside
	for _, seq := range seqs {
		path := segmentPath(l, seq)
		data, err := os.ReadFile(path)
		if err != nil {
			// An unreadable segment must not keep the edge from starting:
			// it goes to bad/ for a person, the spool carries on.
			a, aerr := setAsideSegment(l, path, fmt.Sprintf("journal segment cannot be read: %v; its records were not put into their session files", err))
			if aerr != nil {
				return asides, aerr
			}
			asides = append(asides, a)
			continue
		}
		ents, refused := parseEntries(data)
		if n := len(ents); n == 0 || ents[n-1].kind != entryCheckpoint {
			more, err := replayAppends(l, ents)
			if err != nil {
				return asides, err
			}
			refused = append(refused, more...)
		}
		var closes []string
		for _, e := range ents {
			if e.kind == entryClose && !e.refused {
				closes = append(closes, e.name)
			}
		}
		if err := moveAll(l, closes, true); err != nil {
			return asides, err
		}
		if len(refused) > 0 {
			reason := fmt.Sprintf("journal segment with %d refused entr(ies), not applied (the others were): %s",
				len(refused), strings.Join(first(refused, 5), "; "))
			a, err := setAsideSegment(l, path, reason)
			if err != nil {
				return asides, err
			}
			asides = append(asides, a)
			continue
		}
		if err := os.Remove(path); err != nil {
			return asides, fmt.Errorf("journal: %w", err)
		}
		if err := durable.SyncDir(l.Journal()); err != nil {
			return asides, err
		}
	}
	return asides, nil
}

// setAsideSegment moves a journal segment to bad/ as journal-<name>.
func setAsideSegment(l Layout, path, reason string) (Aside, error) {
	to, err := l.SetAside(path, "journal-"+filepath.Base(path), reason)
	if err != nil {
		return Aside{}, err
	}
	return Aside{Path: path, To: to, Reason: reason}, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
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

// replayAppends makes sure every journaled record is in its session file,
// and returns the entries it refused (a record that does not parse; the
// entry is marked refused).
func replayAppends(l Layout, ents []entry) (refused []string, err error) {
	var order []string
	lines := map[string][][]byte{}
	for i := range ents {
		e := &ents[i]
		if e.kind != entryAppend || e.refused {
			continue
		}
		if _, err := ParseLine(e.line); err != nil {
			e.refused = true
			refused = append(refused, fmt.Sprintf("entry %d (for %s): %v", e.n, e.name, err))
			continue
		}
		if _, seen := lines[e.name]; !seen {
			order = append(order, e.name)
		}
		lines[e.name] = append(lines[e.name], e.line)
	}
	for _, name := range order {
		if err := ensureLines(filepath.Join(l.Open(), name), lines[name]); err != nil {
			return refused, fmt.Errorf("journal: %w", err)
		}
	}
	if len(order) > 0 {
		return refused, durable.SyncDir(l.Open())
	}
	return refused, nil
}

// ensureLines appends to path those of lines it does not hold yet, and
// fsyncs it.
func ensureLines(path string, lines [][]byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
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
