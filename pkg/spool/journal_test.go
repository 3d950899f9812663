package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func journaled(t *testing.T, l Layout) *Store {
	t.Helper()
	s, err := OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseJournal(); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkpointNow runs a checkpoint and waits for it.
func checkpointNow(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if s.j.cp != nil {
		if err := <-s.j.cp; err != nil {
			t.Fatal(err)
		}
		s.j.cp = nil
	}
}

// records counts the records of every session file in dir.
func records(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, name := range names(t, dir) {
		recs, err := ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n += len(recs)
	}
	return n
}

func segmentCount(t *testing.T, l Layout) int {
	t.Helper()
	seqs, err := segments(l)
	if err != nil {
		t.Fatal(err)
	}
	return len(seqs)
}

func TestJournalCheckpoint(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	if err := s.Add([]Record{rec(Start, "a", t0, 0), rec(Start, "b", t0, 0), rec(Stop, "a", t0.Add(time.Minute), 60)}); err != nil {
		t.Fatal(err)
	}
	// Durable in the journal; the files wait for the checkpoint.
	if len(names(t, l.Open())) != 0 || s.OpenCount() != 1 || len(names(t, l.Ready())) != 0 {
		t.Fatalf("before checkpoint: open/ %v, index %d, ready/ %v", names(t, l.Open()), s.OpenCount(), names(t, l.Ready()))
	}
	checkpointNow(t, s)
	if len(names(t, l.Open())) != 1 || len(names(t, l.Ready())) != 1 || records(t, l.Ready()) != 2 || segmentCount(t, l) != 2 { // the current one and a spare
		t.Fatalf("after checkpoint: open/ %v ready/ %v, %d segments", names(t, l.Open()), names(t, l.Ready()), segmentCount(t, l))
	}
	// A late record for the closed session, then a sweep, then Close.
	if err := s.Add([]Record{rec(Interim, "a", t0.Add(30*time.Second), 30)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(t0.Add(7*time.Hour), 6*time.Hour); err != nil || n != 2 {
		t.Fatalf("sweep closed %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(names(t, l.Open())) != 0 || len(names(t, l.Ready())) != 3 || records(t, l.Ready()) != 4 || segmentCount(t, l) != 0 {
		t.Fatalf("after close: open/ %v ready/ %v, %d segments", names(t, l.Open()), names(t, l.Ready()), segmentCount(t, l))
	}
	if err := s.Add([]Record{rec(Start, "c", t0, 0)}); err == nil {
		t.Fatal("Add after Close must fail")
	}
}

// A crash in the middle of a checkpoint, while it writes the files: they
// may have lost any of those writes, and the next segment holds more. The
// journal puts back exactly the missing lines, in segment order.
func TestJournalRecoversLostWrites(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Add([]Record{rec(Start, "a", t0, 0), rec(Start, "d", t0, 0)}))
	checkpointNow(t, s) // a and d on disk for good
	must(s.Add([]Record{rec(Start, "b", t0, 0), rec(Start, "c", t0, 0)}))
	must(s.Add([]Record{rec(Interim, "a", t0.Add(time.Minute), 60), rec(Stop, "b", t0.Add(time.Minute), 60)}))
	must(s.Add([]Record{rec(Interim, "d", t0.Add(time.Minute), 60), rec(Interim, "d", t0.Add(2*time.Minute), 120)}))
	w, err := s.j.rotate() // the checkpoint starts writing, then the machine stops
	must(err)
	must(w.pend.apply(l))
	must(s.Add([]Record{rec(AccountingOn, "", t0.Add(2*time.Hour), 0)})) // closes a, c and d; in the next segment
	// Damage what the checkpoint wrote: a's new line torn, b's file gone,
	// d's last line lost.
	for _, f := range names(t, l.Open()) {
		p := filepath.Join(l.Open(), f)
		recs, err := ReadFile(p)
		must(err)
		data, err := os.ReadFile(p)
		must(err)
		switch recs[0].SessionID {
		case "a":
			must(os.WriteFile(p, data[:len(data)-10], 0o644))
		case "b":
			must(os.Remove(p))
		case "d":
			cut := len(data) - 1
			for data[cut-1] != '\n' {
				cut--
			}
			must(os.WriteFile(p, data[:cut], 0o644))
		}
	}
	s, err = OpenStore(l)
	must(err)
	if segmentCount(t, l) != 0 {
		t.Fatal("segments left after recovery")
	}
	if got := names(t, l.Open()); len(got) != 0 || s.OpenCount() != 0 {
		t.Fatalf("open/ after recovery: %v (index %d)", got, s.OpenCount())
	}
	if got := len(names(t, l.Ready())); got != 5 { // a, b, c, d, Accounting-On
		t.Fatalf("ready/ after recovery: %v", names(t, l.Ready()))
	}
	if got := records(t, l.Ready()); got != 9 {
		t.Fatalf("ready/ holds %d records, want 9 (no loss, no duplicate)", got)
	}
	for _, f := range names(t, l.Ready()) {
		recs, err := ReadFile(filepath.Join(l.Ready(), f))
		must(err)
		for i := 1; i < len(recs); i++ { // the order of receipt survives
			if recs[i].EventTime.Before(recs[i-1].EventTime) {
				t.Fatalf("%s: records out of order", f)
			}
		}
	}
	// Recovery twice changes nothing.
	_, err = OpenStore(l)
	must(err)
	if records(t, l.Ready())+records(t, l.Open()) != 9 {
		t.Fatal("second recovery changed the spool")
	}
}

// A crash inside the checkpoint after its mark: the files are complete,
// only the moves to ready/ are redone; a torn tail is ignored.
func TestJournalRecoversCheckpoint(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	if err := s.Add([]Record{rec(Start, "a", t0, 0), rec(Stop, "a", t0.Add(time.Minute), 60), rec(Start, "b", t0, 0)}); err != nil {
		t.Fatal(err)
	}
	w, err := s.j.rotate()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.pend.apply(l); err != nil {
		t.Fatal(err)
	}
	if err := w.seg.write(appendEntry(nil, entryCheckpoint, "", nil)); err != nil {
		t.Fatal(err)
	}
	f := s.j.seg.f
	f.Write([]byte("A\tnas1_x.sess\tstatus_type=Sto")) // torn, never acknowledged
	if _, err := OpenStore(l); err != nil {
		t.Fatal(err)
	}
	if len(names(t, l.Open())) != 1 || len(names(t, l.Ready())) != 1 || records(t, l.Ready()) != 2 || records(t, l.Open()) != 1 {
		t.Fatalf("open/ %v ready/ %v", names(t, l.Open()), names(t, l.Ready()))
	}
}

// Names stay taken until the checkpoint has moved their files: a late
// record for a session closed a moment ago gets a name of its own.
func TestJournalNameReuse(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	for _, r := range []Record{rec(Start, "a", t0, 0), rec(Stop, "a", t0, 0), rec(Stop, "a", t0, 0)} {
		if err := s.Add([]Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	checkpointNow(t, s)
	if err := s.Add([]Record{rec(Stop, "a", t0, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, l.Ready()); len(got) != 3 || records(t, l.Ready()) != 4 {
		t.Fatalf("ready/ %v", got)
	}
}

// The checkpoint creates the file of a new session with O_EXCL and writes
// it in one go. Should a file by that name exist after all (a crash left
// one behind, here a torn header), it falls back to repairing the tail:
// the header once, every record once.
func TestJournalFreshFileExists(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	a := rec(Start, "a", t0, 0)
	if err := s.Add([]Record{a, rec(Start, "b", t0, 0)}); err != nil {
		t.Fatal(err)
	}
	name := FileName(a.NAS, a.SessionID, a.SessionStart())
	if !s.j.pend.fresh[name] {
		t.Fatalf("%s not marked fresh: %v", name, s.j.pend.fresh)
	}
	if err := os.WriteFile(filepath.Join(l.Open(), name), []byte(Header[:5]), 0o644); err != nil {
		t.Fatal(err)
	}
	// More records in a later group of the same checkpoint.
	if err := s.Add([]Record{rec(Interim, "a", t0.Add(time.Minute), 60), rec(Interim, "b", t0.Add(time.Minute), 60)}); err != nil {
		t.Fatal(err)
	}
	checkpointNow(t, s)
	for _, f := range names(t, l.Open()) {
		data, err := os.ReadFile(filepath.Join(l.Open(), f))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := ReadFile(filepath.Join(l.Open(), f))
		if err != nil || len(recs) != 2 || strings.Count(string(data), Header) != 1 {
			t.Fatalf("%s: %d records, %v:\n%s", f, len(recs), err, data)
		}
	}
	if len(names(t, l.Open())) != 2 {
		t.Fatalf("open/ %v", names(t, l.Open()))
	}
	// The file holds its records now: a later checkpoint appends to it.
	if err := s.Add([]Record{rec(Stop, "a", t0.Add(2*time.Minute), 120)}); err != nil {
		t.Fatal(err)
	}
	if s.j.pend.fresh[name] {
		t.Fatalf("%s marked fresh again", name)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if records(t, l.Ready()) != 3 || records(t, l.Open()) != 2 {
		t.Fatalf("ready/ %d records, open/ %d", records(t, l.Ready()), records(t, l.Open()))
	}
}

// A move into ready/ never replaces a file there: the session gets a
// "+N" name, with renameat2 RENAME_NOREPLACE and with the stat fallback
// used where the file system cannot do that.
func TestMoveToReadyTakenName(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		l := Layout{Root: t.TempDir()}
		if err := l.Init(); err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.MkdirAll(l.Ready(), 0o755))
		for _, n := range []string{"x.sess", "x+1.sess"} {
			must(os.WriteFile(filepath.Join(l.Ready(), n), []byte(n), 0o644))
		}
		must(os.WriteFile(filepath.Join(l.Open(), "x.sess"), []byte("new"), 0o644))
		if fallback {
			must(moveToReadyWith(l, "x.sess", func(string, string) error { return errors.ErrUnsupported }))
		} else {
			must(moveToReadyLocked(l, []string{"x.sess"}))
		}
		for n, want := range map[string]string{"x.sess": "x.sess", "x+1.sess": "x+1.sess", "x+2.sess": "new"} {
			got, err := os.ReadFile(filepath.Join(l.Ready(), n))
			if err != nil || string(got) != want {
				t.Fatalf("fallback %v: ready/%s = %q, %v; want %q", fallback, n, got, err, want)
			}
		}
		if len(names(t, l.Open())) != 0 {
			t.Fatalf("fallback %v: open/ %v", fallback, names(t, l.Open()))
		}
	}
}
