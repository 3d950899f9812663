package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"roamsettle/pkg/durable"
)

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

// journal is a Store's journal mode: the segment that takes the entries
// of Add, Sweep and CloseNAS, what those entries still owe the session
// files, and the background checkpoint that pays it.
type journal struct {
	l      Layout
	seg    *segment       // receives the entries of Add, Sweep and CloseNAS
	pend   *pendingWrites // appends journaled in seg, not yet in files
	closes []string       // closes journaled in seg, not yet moved
	taken  *nameSet
	cp     chan error    // the running checkpoint's result; nil when none
	spare  chan *segment // the next segment, made ready by a checkpoint
}

// newJournal starts journal mode on a spool whose journal is empty (a
// Store recovers it when it opens).
func newJournal(l Layout) (*journal, error) {
	if err := durable.MkdirAll(l.Journal(), 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	seqs, err := segments(l)
	if err != nil {
		return nil, err
	}
	if len(seqs) > 0 {
		return nil, fmt.Errorf("journal %s: not recovered: open the Store again", l.Journal())
	}
	ents, err := os.ReadDir(l.Open())
	if err != nil {
		return nil, err
	}
	taken := &nameSet{m: map[string]bool{}}
	for _, e := range ents {
		taken.m[e.Name()] = true
	}
	seg, err := createSegment(l, 1, true)
	if err != nil {
		return nil, err
	}
	return &journal{l: l, seg: seg, pend: newPendingWrites(), taken: taken, spare: make(chan *segment, 1)}, nil
}

// commit makes a group durable in the journal: its records and closes;
// the files wait for the checkpoint.
func (j *journal) commit(g *group) error {
	for _, name := range g.closes {
		g.entries = appendEntry(g.entries, entryClose, name, nil)
	}
	if len(g.entries) == 0 {
		return nil
	}
	if err := j.seg.write(g.entries); err != nil {
		return err
	}
	j.pend.merge(g.journal)
	j.closes = append(j.closes, g.closes...)
	g.closes = nil
	return nil
}

// abandon stops the journal after an error: a running checkpoint is let
// finish (before anyone recovers), the segment closed, the spare removed
// (recovery would remove it anyway).
func (j *journal) abandon() {
	if j.cp != nil {
		<-j.cp
		j.cp = nil
	}
	j.seg.f.Close()
	j.dropSpare()
}

// checkpoint starts a background checkpoint unless one is running, and
// returns the error of a finished one.
func (j *journal) checkpoint() error {
	if j.cp != nil {
		select {
		case err := <-j.cp:
			j.cp = nil
			if err != nil {
				return err
			}
		default:
			return nil
		}
	}
	if j.seg.size == 0 {
		return nil
	}
	w, err := j.rotate()
	if err != nil {
		return err
	}
	j.cp = make(chan error, 1)
	go func() { j.cp <- w.run() }()
	return nil
}

// rotate starts a new segment and hands the old one, with its pending
// writes and closes, to a checkpoint.
func (j *journal) rotate() (*checkpoint, error) {
	var next *segment
	select {
	case sp := <-j.spare:
		next = sp
	default: // not ready: a plain one, rather than zero-filling here
		var err error
		if next, err = createSegment(j.l, j.seg.seq+1, false); err != nil {
			return nil, err
		}
	}
	w := &checkpoint{l: j.l, seg: j.seg, pend: j.pend, closes: j.closes, taken: j.taken,
		spare: j.spare, spareSeq: next.seq + 1}
	j.seg, j.pend, j.closes = next, newPendingWrites(), nil
	return w, nil
}

// close waits for a running checkpoint and runs a last one, so the
// journal is empty and closed sessions are in ready/.
func (j *journal) close() error {
	var err error
	if j.cp != nil {
		err = <-j.cp
		j.cp = nil
	}
	if err == nil && j.seg.size > 0 {
		var w *checkpoint
		if w, err = j.rotate(); err == nil {
			w.spare = nil
			err = w.run()
		}
	}
	if err == nil {
		err = j.seg.remove(j.l)
	} else {
		j.seg.f.Close()
	}
	if derr := j.dropSpare(); err == nil {
		err = derr
	}
	return err
}

// dropSpare removes an unused spare segment.
func (j *journal) dropSpare() error {
	select {
	case sp := <-j.spare:
		return sp.remove(j.l)
	default:
		return nil
	}
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

// UseJournal switches the Store to journal mode: Add, Sweep and CloseNAS
// are durable on return with one fdatasync of a journal segment, however
// many files they touch. The session files are written, synced (one
// syncfs) and closed sessions moved to ready/ by Checkpoint, which runs in
// the background; until then records are in the journal only and closed
// sessions stay in open/ (out of the index). Call Checkpoint now and then
// (the listener: every second) and Close at the end. A Store reopened
// after a crash recovers from the journal first (OpenStore).
func (s *Store) UseJournal() error {
	j, err := newJournal(s.L)
	if err != nil {
		return err
	}
	s.j = j
	return nil
}

// fail keeps a journal-mode Store from writing after an error: its index
// and journal may not match the disk any more, so it must be reopened
// (which recovers from the journal).
func (s *Store) fail(err error) error {
	if s.err == nil {
		s.err = fmt.Errorf("spool store unusable after an earlier error (open it again): %w", err)
		s.j.abandon()
	}
	return err
}

// Checkpoint starts writing what the journal holds into the session files
// in the background, unless a checkpoint is still running; it returns the
// error of a finished one (then the Store must be reopened). Without a
// journal it does nothing.
func (s *Store) Checkpoint() error {
	if s.err != nil || s.j == nil {
		return s.err
	}
	if err := s.j.checkpoint(); err != nil {
		return s.fail(err)
	}
	return nil
}

// Close ends journal mode: it waits for a running checkpoint and runs a
// last one, so the journal is empty and closed sessions are in ready/.
func (s *Store) Close() error {
	if s.err != nil || s.j == nil {
		return s.err
	}
	err := s.j.close()
	s.j, s.err = nil, errors.New("spool store closed")
	return err
}
