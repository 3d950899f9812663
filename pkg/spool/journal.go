package spool

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"roamsettle/pkg/durable"
)

// JournalFile is the Store's write-ahead journal in the spool root, used
// in journal mode (Store.UseJournal). docs/spool.md "Journal" describes it.
const JournalFile = "journal"

// Journal is the path of the spool's journal.
func (l Layout) Journal() string { return filepath.Join(l.Root, JournalFile) }

// Journal entry kinds: append a record line to open/<name>; close
// open/<name> (move it to ready/); checkpoint reached (everything before
// is in the session files, durably).
const (
	entryAppend     = 'A'
	entryClose      = 'C'
	entryCheckpoint = 'K'
)

// appendEntry adds one journal line: kind, name, payload and the CRC-32C
// of what precedes its tab, so a torn or stale tail is recognised.
func appendEntry(buf []byte, kind byte, name string, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, kind, '\t')
	buf = append(buf, name...)
	buf = append(buf, '\t')
	buf = append(buf, payload...)
	return fmt.Appendf(buf, "\t%08x\n", crc32.Checksum(buf[start:], crcTable))
}

type entry struct {
	kind byte
	name string
	line []byte // a spool line without its LF, for entryAppend
}

// parseEntries reads journal entries up to the first incomplete or
// damaged one: the tail of a write cut short, never acknowledged.
func parseEntries(data []byte) []entry {
	var out []entry
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		t := bytes.LastIndexByte(line, '\t')
		if t < 0 || len(line)-t-1 != 8 || fmt.Sprintf("%08x", crc32.Checksum(line[:t], crcTable)) != string(line[t+1:]) {
			break
		}
		kind, rest, ok1 := bytes.Cut(line[:t], []byte{'\t'})
		name, payload, ok2 := bytes.Cut(rest, []byte{'\t'})
		if !ok1 || !ok2 || len(kind) != 1 {
			break
		}
		out = append(out, entry{kind: kind[0], name: string(name), line: payload})
	}
	return out
}

// journal is the open journal file of a Store in journal mode.
type journal struct {
	f    *os.File
	size int64
}

// write appends entries and makes them durable.
func (j *journal) write(b []byte) error {
	if _, err := j.f.WriteAt(b, j.size); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.size += int64(len(b))
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// empty truncates the journal, durably.
func (j *journal) empty() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.size = 0
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// recoverJournal finishes what a journal left by a stopped or crashed
// Store describes, then empties it. Without a checkpoint mark, every
// journaled record is put into its session file unless the file already
// holds that exact line (a record is never written twice); then the
// closes are redone. After a mark, the files are complete and only the
// closes are redone. Either way it can run again after a crash of its own.
func recoverJournal(l Layout) error {
	data, err := os.ReadFile(l.Journal())
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(data) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	ents := parseEntries(data)
	if n := len(ents); n == 0 || ents[n-1].kind != entryCheckpoint {
		if err := replayAppends(l, ents); err != nil {
			return err
		}
	}
	moved := false
	for _, e := range ents {
		if e.kind != entryClose {
			continue
		}
		if _, err := os.Stat(filepath.Join(l.Open(), e.name)); errors.Is(err, fs.ErrNotExist) {
			continue // moved before the crash
		}
		if err := moveToReady(l, e.name); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		moved = true
	}
	if moved {
		if err := durable.SyncDir(l.Ready()); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(l.Open()); err != nil {
		return err
	}
	f, err := os.OpenFile(l.Journal(), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return (&journal{f: f}).empty()
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

// UseJournal switches the Store to journal mode: Add, Sweep and CloseNAS
// become durable with one fsync of the journal instead of one per touched
// file; the session files are written without fsync, and closed sessions
// stay in open/ (out of the index) until the next Checkpoint moves them to
// ready/. Call Checkpoint now and then (the listener: every second) and
// Close at the end. The Store must be freshly opened (its journal empty).
func (s *Store) UseJournal() error {
	f, err := os.OpenFile(s.L.Journal(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() != 0 {
		err = errors.New("not empty: open the Store again to recover it")
	}
	if err == nil {
		err = durable.SyncDir(s.L.Root)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("journal %s: %w", s.L.Journal(), err)
	}
	s.j = &journal{f: f}
	return nil
}

// commitJournal ends a group in journal mode: its records and closes go
// to the journal, fsynced; the session files are left to the kernel until
// the next Checkpoint.
func (s *Store) commitJournal(g *group) error {
	if s.jerr != nil {
		return s.jerr
	}
	if err := g.release(); err != nil {
		return s.fail(err)
	}
	for _, name := range g.closes {
		g.entries = appendEntry(g.entries, entryClose, name, nil)
	}
	if len(g.entries) == 0 {
		return nil
	}
	if err := s.j.write(g.entries); err != nil {
		return s.fail(err)
	}
	s.pending = append(s.pending, g.closes...)
	g.closes = nil
	return nil
}

// fail keeps a journal-mode Store from writing after an error: its index
// and journal may not match the disk any more, so it must be reopened.
func (s *Store) fail(err error) error {
	if s.jerr == nil {
		s.jerr = fmt.Errorf("spool store unusable after an earlier error (open it again): %w", err)
		s.j.f.Close()
	}
	return err
}

// Checkpoint makes every session file durable (one syncfs), marks that in
// the journal, moves the sessions closed since the last checkpoint to
// ready/ and empties the journal. Without a journal it does nothing.
func (s *Store) Checkpoint() error {
	if s.j == nil {
		return nil
	}
	if s.jerr != nil {
		return s.jerr
	}
	if s.j.size == 0 {
		return nil
	}
	if err := syncFS(s.L.Open()); err != nil {
		return s.fail(err)
	}
	if err := s.j.write(appendEntry(nil, entryCheckpoint, "", nil)); err != nil {
		return s.fail(err)
	}
	for _, name := range s.pending {
		if err := moveToReady(s.L, name); err != nil {
			return s.fail(err)
		}
	}
	if len(s.pending) > 0 {
		if err := durable.SyncDir(s.L.Ready()); err != nil {
			return s.fail(err)
		}
	}
	if err := durable.SyncDir(s.L.Open()); err != nil {
		return s.fail(err)
	}
	s.pending = nil
	if err := s.j.empty(); err != nil {
		return s.fail(err)
	}
	return nil
}

// Close ends journal mode with a last Checkpoint.
func (s *Store) Close() error {
	if s.j == nil || s.jerr != nil {
		return s.jerr
	}
	err := s.Checkpoint()
	if cerr := s.j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("journal: %w", cerr)
	}
	s.j, s.jerr = nil, errors.New("spool store closed")
	return err
}
