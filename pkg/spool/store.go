package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// StartTolerance is how far apart two derived session starts may be and
// still be the same session. Derived starts wobble by network and clock
// jitter of a few seconds; a reused Acct-Session-Id after a reboot starts
// far later (and the reboot's Accounting-On closes the old one anyway).
const StartTolerance = 5 * time.Minute

type sessKey struct{ nas, sid string }

type openSession struct {
	name     string // file name in open/
	start    time.Time
	lastRecv time.Time
}

// Store files records into session files and closes sessions. It is the
// one writer of open/ and of moves into ready/; callers hold the spool
// lock. Not safe for concurrent use.
type Store struct {
	L      Layout
	open   map[sessKey][]*openSession
	byNAS  map[string]int
	closed int
	// Journal mode (UseJournal), and the error that made the Store
	// unusable (it must be opened again).
	j   *journal
	err error
	// asides are what OpenStore set aside (see Aside).
	asides []Aside
}

// OpenStore prepares the spool folders and indexes the open sessions on
// disk, so a restarted listener carries on where it stopped.
func OpenStore(l Layout) (*Store, error) {
	if err := l.Init(); err != nil {
		return nil, err
	}
	asides, err := recoverJournal(l)
	if err != nil {
		return nil, err
	}
	s := &Store{L: l, open: map[sessKey][]*openSession{}, byNAS: map[string]int{}, asides: asides}
	ents, err := os.ReadDir(l.Open())
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		path := filepath.Join(l.Open(), e.Name())
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), FileExt) || strings.HasPrefix(e.Name(), ".") {
			s.asides = append(s.asides, Aside{Path: path, Reason: fmt.Sprintf("not a session file (%s): left in place; remove it or move it elsewhere", kindOf(e))})
			continue
		}
		recs, err := ReadFile(path)
		if err != nil && !errors.Is(err, ErrTornTail) {
			// One damaged or foreign file must not stop the edge: it
			// goes to bad/ with its reason, the rest carries on.
			reason := fmt.Sprintf("session file in open/ cannot be read back: %v", err)
			to, aerr := l.SetAside(path, "", reason)
			if aerr != nil {
				return nil, aerr
			}
			s.asides = append(s.asides, Aside{Path: path, To: to, Reason: reason})
			continue
		}
		if len(recs) == 0 {
			continue // crash before the first record was durable; it was never acknowledged
		}
		os := &openSession{name: e.Name(), start: recs[0].SessionStart()}
		for _, r := range recs {
			if r.Received.After(os.lastRecv) {
				os.lastRecv = r.Received
			}
		}
		s.index(sessKey{recs[0].NAS, recs[0].SessionID}, os)
	}
	return s, nil
}

// Aside lists what OpenStore could not use: damaged session files and
// journal segments moved to bad/, foreign entries left in open/. Callers
// log them (LogAside) and end their run needing attention.
func (s *Store) Aside() []Aside { return s.asides }

func kindOf(e fs.DirEntry) string {
	switch t := e.Type(); {
	case t.IsDir():
		return "a folder"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case !t.IsRegular():
		return "not a regular file"
	case strings.HasPrefix(e.Name(), "."):
		return "a hidden name"
	}
	return "a name not ending in " + FileExt
}

func (s *Store) newGroup() *group {
	g := newGroup(s.L)
	if s.j != nil {
		g.journal = newPendingWrites()
	}
	return g
}

// commit ends a group: durable on return, with per-file fsyncs or, in
// journal mode, with one fsync of the journal.
func (s *Store) commit(g *group) error {
	if s.err != nil {
		return s.err
	}
	if s.j != nil {
		if err := s.j.commit(g); err != nil {
			return s.fail(err)
		}
		return nil
	}
	return g.commit()
}

// Closed is how many sessions this Store has closed (Stop, Accounting-On/Off
// or Sweep), counting those of a failed Add too: callers wanting the count
// of durable closes take the difference around a successful Add.
func (s *Store) Closed() int { return s.closed }

func (s *Store) index(k sessKey, o *openSession) {
	s.open[k] = append(s.open[k], o)
	s.byNAS[k.nas]++
}

// OpenCount is how many sessions are open.
func (s *Store) OpenCount() int {
	n := 0
	for _, c := range s.byNAS {
		n += c
	}
	return n
}

// find returns the open session a record belongs to, nil when none.
func (s *Store) find(r *Record) *openSession {
	var best *openSession
	var bestDist time.Duration
	start := r.SessionStart()
	for _, o := range s.open[sessKey{r.NAS, r.SessionID}] {
		d := o.start.Sub(start)
		if d < 0 {
			d = -d
		}
		if d <= StartTolerance && (best == nil || d < bestDist) {
			best, bestDist = o, d
		}
	}
	return best
}

// Add files records in order: each is appended to its session's file (a
// new one when none is open), a Stop closes its session, and an
// Accounting-On/Off closes every open session of its NAS and is kept as a
// file of its own. When Add returns nil, all of it is on disk: Add is a
// group commit, one fsync per touched file (in parallel) and one per
// folder, however many records it was given (in journal mode: one fsync
// of the journal). After an error the Store's index may not match the
// disk: open a new Store.
func (s *Store) Add(recs []Record) error {
	if s.err != nil {
		return s.err
	}
	g := s.newGroup()
	defer g.abort()
	for i := range recs {
		if err := s.add(g, &recs[i]); err != nil {
			if s.j != nil {
				return s.fail(err)
			}
			return err
		}
	}
	return s.commit(g)
}

func (s *Store) add(g *group, r *Record) error {
	if r.NASControl() {
		s.closeWhere(g, func(k sessKey, _ *openSession) bool { return k.nas == r.NAS })
		name, err := s.freeName(FileName(r.NAS, r.StatusType, r.EventTime), g)
		if err != nil {
			return err
		}
		if err := g.append(name, r); err != nil {
			return err
		}
		g.closes = append(g.closes, name)
		return nil
	}
	o := s.find(r)
	if o == nil {
		name, err := s.freeName(FileName(r.NAS, r.SessionID, r.SessionStart()), g)
		if err != nil {
			return err
		}
		o = &openSession{name: name, start: r.SessionStart()}
		s.index(sessKey{r.NAS, r.SessionID}, o)
	}
	if err := g.append(o.name, r); err != nil {
		return err
	}
	if r.Received.After(o.lastRecv) {
		o.lastRecv = r.Received
	}
	if r.Closes() {
		s.close(g, sessKey{r.NAS, r.SessionID}, o)
	}
	return nil
}

// freeName returns name, or name with a numeric suffix when open/ already
// has a file by that name for another session.
func (s *Store) freeName(name string, g *group) (string, error) {
	base := strings.TrimSuffix(name, FileExt)
	if s.j != nil { // open/ lags behind the journal: ask the name set
		for i := 1; !s.j.taken.take(name); i++ {
			name = fmt.Sprintf("%s+%d%s", base, i, FileExt)
		}
		g.journal.markFresh(name)
		return name, nil
	}
	for i := 1; ; i++ {
		_, inGroup := g.files[name]
		_, err := os.Stat(filepath.Join(s.L.Open(), name))
		if errors.Is(err, fs.ErrNotExist) && !inGroup {
			return name, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err // not a name clash: the folder itself is unusable
		}
		name = fmt.Sprintf("%s+%d%s", base, i, FileExt)
	}
}

// close takes a session out of the index; the group moves its file to
// ready/ when it commits.
func (s *Store) close(g *group, k sessKey, o *openSession) {
	g.closes = append(g.closes, o.name)
	list := s.open[k]
	for i, x := range list {
		if x == o {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.open, k)
	} else {
		s.open[k] = list
	}
	s.closed++
	s.byNAS[k.nas]--
	if s.byNAS[k.nas] == 0 {
		delete(s.byNAS, k.nas)
	}
}

// CloseNAS closes every open session of a NAS (it rebooted: Accounting-On
// or -Off) and returns how many it closed.
func (s *Store) CloseNAS(nas string) (int, error) {
	g := s.newGroup()
	defer g.abort()
	n := s.closeWhere(g, func(k sessKey, _ *openSession) bool { return k.nas == nas })
	return n, s.commit(g)
}

// Sweep closes the sessions with no record received for longer than
// staleAfter before now, and returns how many it closed.
func (s *Store) Sweep(now time.Time, staleAfter time.Duration) (int, error) {
	g := s.newGroup()
	defer g.abort()
	n := s.closeWhere(g, func(_ sessKey, o *openSession) bool { return now.Sub(o.lastRecv) > staleAfter })
	return n, s.commit(g)
}

func (s *Store) closeWhere(g *group, match func(sessKey, *openSession) bool) int {
	type victim struct {
		k sessKey
		o *openSession
	}
	var vs []victim
	for k, list := range s.open {
		for _, o := range list {
			if match(k, o) {
				vs = append(vs, victim{k, o})
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].o.name < vs[j].o.name })
	for _, v := range vs {
		s.close(g, v.k, v.o)
	}
	return len(vs)
}
