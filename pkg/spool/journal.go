package spool

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"roamsettle/pkg/durable"
)

// JournalDir is the folder of the Store's write-ahead journal in the spool
// root, used in journal mode (Store.UseJournal); docs/spool.md "Journal".
const JournalDir = "journal"

// Journal is the folder of the spool's journal segments.
func (l Layout) Journal() string { return filepath.Join(l.Root, JournalDir) }

// Journal entry kinds: append a record line to open/<name>; close
// open/<name> (move it to ready/); checkpoint mark (every append of the
// segment is in its session file, durably).
const (
	entryAppend     = 'A'
	entryClose      = 'C'
	entryCheckpoint = 'K'
)

const segmentExt = ".log"

// appendEntry adds one journal line: kind, name, payload and the CRC-32C
// of what precedes its last tab, so a torn tail is recognised.
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

// segment is one journal file, journal/<seq>.log.
type segment struct {
	f    *os.File
	seq  uint64
	size int64
}

// segmentPrealloc is how much of a segment is written with zeros before
// use: an fdatasync that does not grow the file needs no file-system
// journal commit, only the data and a cache flush, which halves the
// latency of a group. Entries beyond it still work, just slower.
const segmentPrealloc = 4 << 20

func createSegment(l Layout, seq uint64, prealloc bool) (*segment, error) {
	f, err := os.OpenFile(segmentPath(l, seq), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if prealloc {
		// Zeros end the entries for a reader: a zero byte is never an LF.
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < segmentPrealloc && err == nil; off += int64(len(zeros)) {
			_, err = f.WriteAt(zeros, off)
		}
		if err == nil {
			err = f.Sync()
		}
	}
	// The new name must survive a crash, or its fsynced entries are lost.
	if err == nil {
		err = durable.SyncDir(l.Journal())
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("journal: new segment: %w", err)
	}
	return &segment{f: f, seq: seq}, nil
}

func segmentPath(l Layout, seq uint64) string {
	return filepath.Join(l.Journal(), fmt.Sprintf("%016d%s", seq, segmentExt))
}

// write appends entries and makes them durable.
func (g *segment) write(b []byte) error {
	if _, err := g.f.WriteAt(b, g.size); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	g.size += int64(len(b))
	if err := datasync(g.f); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// remove deletes a finished segment, durably: a stale segment replayed
// after a later one was applied could close a reused name wrongly.
func (g *segment) remove(l Layout) error {
	g.f.Close()
	if err := os.Remove(g.f.Name()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return durable.SyncDir(l.Journal())
}

// segments lists the journal's segment numbers, oldest first.
func segments(l Layout) ([]uint64, error) {
	ents, err := os.ReadDir(l.Journal())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		n, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), segmentExt), 10, 64)
		if err != nil || !strings.HasSuffix(e.Name(), segmentExt) {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

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

// pendingWrites are journaled appends not yet written to their session
// files, by file name in first-touch order. fresh holds the names the
// Store assigned to new sessions in these writes: no file in open/ has
// them (the name set says so), unless a crash left one behind.
type pendingWrites struct {
	order []string
	data  map[string][]byte
	fresh map[string]bool
}

func newPendingWrites() *pendingWrites {
	return &pendingWrites{data: map[string][]byte{}, fresh: map[string]bool{}}
}

// markFresh records that name was just taken for a new session, before
// its first append.
func (p *pendingWrites) markFresh(name string) {
	if _, ok := p.data[name]; !ok {
		p.fresh[name] = true
	}
}

func (p *pendingWrites) add(name string, line []byte) {
	b, ok := p.data[name]
	if !ok {
		p.order = append(p.order, name)
	}
	p.data[name] = append(append(b, line...), '\n')
}

func (p *pendingWrites) merge(q *pendingWrites) {
	for _, name := range q.order {
		b, ok := p.data[name]
		if !ok {
			p.order = append(p.order, name)
			if q.fresh[name] {
				p.fresh[name] = true
			}
		}
		p.data[name] = append(b, q.data[name]...)
	}
}

// apply writes the pending appends to their files, without fsync, each
// file with one open. A file of a fresh name is created (O_EXCL) and
// written in one go, without looking at its tail; should it exist after
// all (left by a crash), it takes the general path: the tail repaired,
// the header only into an empty file.
func (p *pendingWrites) apply(l Layout) error {
	var scratch []byte // header and records of a new file, for one write
	for _, name := range p.order {
		path := filepath.Join(l.Open(), name)
		if p.fresh[name] {
			scratch = append(append(append(scratch[:0], Header...), '\n'), p.data[name]...)
			done, err := writeNew(path, scratch)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		size, err := repairTail(f)
		buf := p.data[name]
		if err == nil && size == 0 {
			buf = append([]byte(Header+"\n"), buf...)
		}
		if err == nil {
			_, err = f.WriteAt(buf, size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// nameSet holds the names taken in open/: on disk, or assigned and not
// yet moved to ready/ by a checkpoint. The checkpoint frees names from
// its own goroutine, hence the mutex.
type nameSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (n *nameSet) take(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m[name] {
		return false
	}
	n.m[name] = true
	return true
}

func (n *nameSet) free(names []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, name := range names {
		delete(n.m, name)
	}
}

// journalState is a Store's journal mode.
type journalState struct {
	seg    *segment       // receives the entries of Add, Sweep and CloseNAS
	pend   *pendingWrites // appends journaled in seg, not yet in files
	closes []string       // closes journaled in seg, not yet moved
	taken  *nameSet
	cp     chan error    // the running checkpoint's result; nil when none
	spare  chan *segment // the next segment, made ready by a checkpoint
}

// UseJournal switches the Store to journal mode: Add, Sweep and CloseNAS
// are durable on return with one fdatasync of a journal segment, however
// many files they touch. The session files are written, synced (one
// syncfs) and closed sessions moved to ready/ by Checkpoint, which runs in
// the background; until then records are in the journal only and closed
// sessions stay in open/ (out of the index). Call Checkpoint now and then
// (the listener: every second) and Close at the end. A Store reopened
// after a crash recovers from the journal first (OpenStore).
func (s *Store) UseJournal() error {
	if err := durable.MkdirAll(s.L.Journal(), 0o755); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	seqs, err := segments(s.L)
	if err != nil {
		return err
	}
	if len(seqs) > 0 {
		return fmt.Errorf("journal %s: not recovered: open the Store again", s.L.Journal())
	}
	ents, err := os.ReadDir(s.L.Open())
	if err != nil {
		return err
	}
	taken := &nameSet{m: map[string]bool{}}
	for _, e := range ents {
		taken.m[e.Name()] = true
	}
	seg, err := createSegment(s.L, 1, true)
	if err != nil {
		return err
	}
	s.j = &journalState{seg: seg, pend: newPendingWrites(), taken: taken, spare: make(chan *segment, 1)}
	return nil
}

// commitJournal ends a group in journal mode: its records and closes are
// durable in the journal; the files wait for the checkpoint.
func (s *Store) commitJournal(g *group) error {
	for _, name := range g.closes {
		g.entries = appendEntry(g.entries, entryClose, name, nil)
	}
	if len(g.entries) == 0 {
		return nil
	}
	if err := s.j.seg.write(g.entries); err != nil {
		return s.fail(err)
	}
	s.j.pend.merge(g.journal)
	s.j.closes = append(s.j.closes, g.closes...)
	g.closes = nil
	return nil
}

// fail keeps a journal-mode Store from writing after an error: its index
// and journal may not match the disk any more, so it must be reopened
// (which recovers from the journal).
func (s *Store) fail(err error) error {
	if s.jerr == nil {
		s.jerr = fmt.Errorf("spool store unusable after an earlier error (open it again): %w", err)
		if s.j.cp != nil {
			<-s.j.cp // let it finish before anyone recovers
			s.j.cp = nil
		}
		s.j.seg.f.Close()
		s.j.dropSpare(s.L) // recovery would remove it anyway
	}
	return err
}

// Checkpoint starts writing what the journal holds into the session files
// in the background, unless a checkpoint is still running; it returns the
// error of a finished one (then the Store must be reopened). Without a
// journal it does nothing.
func (s *Store) Checkpoint() error {
	if s.j == nil {
		return s.jerr
	}
	if s.jerr != nil {
		return s.jerr
	}
	if s.j.cp != nil {
		select {
		case err := <-s.j.cp:
			s.j.cp = nil
			if err != nil {
				return s.fail(err)
			}
		default:
			return nil
		}
	}
	if s.j.seg.size == 0 {
		return nil
	}
	w, err := s.rotate()
	if err != nil {
		return s.fail(err)
	}
	s.j.cp = make(chan error, 1)
	go func() { s.j.cp <- w.run() }()
	return nil
}

// rotate starts a new segment and hands the old one, with its pending
// writes and closes, to a checkpoint.
func (s *Store) rotate() (*checkpoint, error) {
	var next *segment
	select {
	case sp := <-s.j.spare:
		next = sp
	default: // not ready: a plain one, rather than zero-filling here
		var err error
		if next, err = createSegment(s.L, s.j.seg.seq+1, false); err != nil {
			return nil, err
		}
	}
	w := &checkpoint{l: s.L, seg: s.j.seg, pend: s.j.pend, closes: s.j.closes, taken: s.j.taken,
		spare: s.j.spare, spareSeq: next.seq + 1}
	s.j.seg, s.j.pend, s.j.closes = next, newPendingWrites(), nil
	return w, nil
}

// checkpoint finishes one segment: files written and synced, the mark,
// the moves, the segment removed. It touches only its own segment, the
// files it names and the name set, so Add goes on meanwhile.
type checkpoint struct {
	l        Layout
	seg      *segment
	pend     *pendingWrites
	closes   []string
	taken    *nameSet
	spare    chan<- *segment // where to leave the next segment; nil: none
	spareSeq uint64
}

func (c *checkpoint) run() error {
	if err := c.pend.apply(c.l); err != nil {
		return err
	}
	if err := syncFS(c.l.Open()); err != nil {
		return err
	}
	// syncfs also made the new files' names durable. The mark tells a
	// recovery that only the moves may be missing.
	if len(c.closes) > 0 {
		if err := c.seg.write(appendEntry(nil, entryCheckpoint, "", nil)); err != nil {
			return err
		}
		if err := moveAll(c.l, c.closes, false); err != nil {
			return err
		}
	}
	if err := c.seg.remove(c.l); err != nil {
		return err
	}
	c.taken.free(c.closes) // only now may a new session take a closed name
	if c.spare == nil {
		return nil
	}
	sp, err := createSegment(c.l, c.spareSeq, true)
	if err != nil {
		return err
	}
	c.spare <- sp
	return nil
}

// dropSpare removes an unused spare segment.
func (j *journalState) dropSpare(l Layout) error {
	select {
	case sp := <-j.spare:
		return sp.remove(l)
	default:
		return nil
	}
}

// Close ends journal mode: it waits for a running checkpoint and runs a
// last one, so the journal is empty and closed sessions are in ready/.
func (s *Store) Close() error {
	if s.j == nil || s.jerr != nil {
		return s.jerr
	}
	var err error
	if s.j.cp != nil {
		err = <-s.j.cp
		s.j.cp = nil
	}
	if err == nil && s.j.seg.size > 0 {
		var w *checkpoint
		if w, err = s.rotate(); err == nil {
			w.spare = nil
			err = w.run()
		}
	}
	if err == nil {
		err = s.j.seg.remove(s.L)
	} else {
		s.j.seg.f.Close()
	}
	if derr := s.j.dropSpare(s.L); err == nil {
		err = derr
	}
	s.j, s.jerr = nil, errors.New("spool store closed")
	return err
}
