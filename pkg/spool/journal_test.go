package spool

import (
	"os"
	"path/filepath"
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

func size(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestJournalCheckpoint(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	if err := s.Add([]Record{rec(Start, "a", t0, 0), rec(Start, "b", t0, 0), rec(Stop, "a", t0.Add(time.Minute), 60)}); err != nil {
		t.Fatal(err)
	}
	// Closed, but stays in open/ (out of the index) until the checkpoint.
	if got := len(names(t, l.Open())); got != 2 || s.OpenCount() != 1 || len(names(t, l.Ready())) != 0 {
		t.Fatalf("before checkpoint: open/ %v, index %d, ready/ %v", names(t, l.Open()), s.OpenCount(), names(t, l.Ready()))
	}
	if size(t, l.Journal()) == 0 {
		t.Fatal("journal is empty after Add")
	}
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if len(names(t, l.Open())) != 1 || len(names(t, l.Ready())) != 1 || size(t, l.Journal()) != 0 {
		t.Fatalf("after checkpoint: open/ %v ready/ %v journal %d bytes", names(t, l.Open()), names(t, l.Ready()), size(t, l.Journal()))
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
	if len(names(t, l.Open())) != 0 || len(names(t, l.Ready())) != 3 || records(t, l.Ready()) != 4 {
		t.Fatalf("after close: open/ %v ready/ %v", names(t, l.Open()), names(t, l.Ready()))
	}
	if err := s.Add([]Record{rec(Start, "c", t0, 0)}); err == nil {
		t.Fatal("Add after Close must fail")
	}
}

// A crash before the checkpoint: the session files may have lost any of
// the writes; the journal puts back exactly the missing lines.
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
	must(s.Add([]Record{rec(Start, "a", t0, 0), rec(Start, "b", t0, 0), rec(Start, "c", t0, 0)}))
	must(s.Add([]Record{rec(Interim, "a", t0.Add(time.Minute), 60), rec(Stop, "b", t0.Add(time.Minute), 60)}))
	must(s.Add([]Record{rec(AccountingOn, "", t0.Add(2*time.Hour), 0)}))          // closes a and c
	must(s.Add([]Record{rec(Start, "d", t0.Add(3*time.Hour), 0)}))                // stays open
	must(s.Add([]Record{rec(Interim, "d", t0.Add(3*time.Hour+time.Minute), 60)})) // stays open
	// "Crash": the journal survives, the files lose what was not synced:
	// a's second line is torn, b's file vanished, d lost its last line.
	files := names(t, l.Open())
	if len(files) != 5 {
		t.Fatalf("open/ before crash: %v", files)
	}
	for _, f := range files {
		p := filepath.Join(l.Open(), f)
		recs, err := ReadFile(p)
		must(err)
		switch recs[0].SessionID {
		case "a":
			must(os.Truncate(p, size(t, p)-10))
		case "b":
			must(os.Remove(p))
		case "d":
			data, err := os.ReadFile(p)
			must(err)
			first := len(Header) + 1
			for i := first; i < len(data); i++ {
				if data[i] == '\n' {
					must(os.WriteFile(p, data[:i+1], 0o644))
					break
				}
			}
		}
	}
	s, err := OpenStore(l)
	must(err)
	if size(t, l.Journal()) != 0 {
		t.Fatal("journal not emptied by recovery")
	}
	if got := names(t, l.Open()); len(got) != 1 || s.OpenCount() != 1 {
		t.Fatalf("open/ after recovery: %v (index %d)", got, s.OpenCount())
	}
	if got := records(t, l.Open()); got != 2 {
		t.Fatalf("session d has %d records, want 2", got)
	}
	if got, want := len(names(t, l.Ready())), 4; got != want { // a, b, c, Accounting-On
		t.Fatalf("ready/ after recovery: %v", names(t, l.Ready()))
	}
	if got := records(t, l.Ready()); got != 6 {
		t.Fatalf("ready/ holds %d records, want 6 (no loss, no duplicate)", got)
	}
	// Recovery twice changes nothing.
	_, err = OpenStore(l)
	must(err)
	if records(t, l.Ready())+records(t, l.Open()) != 8 {
		t.Fatal("second recovery changed the spool")
	}
}

// A crash inside the checkpoint, after its mark: the files are complete,
// only the moves to ready/ are redone; a torn tail is ignored.
func TestJournalRecoversCheckpoint(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s := journaled(t, l)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	if err := s.Add([]Record{rec(Start, "a", t0, 0), rec(Stop, "a", t0.Add(time.Minute), 60), rec(Start, "b", t0, 0)}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(l.Journal(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(appendEntry(nil, entryCheckpoint, "", nil))
	f.Write([]byte("A\tnas1_x.sess\tstatus_type=Sto")) // torn, never acknowledged
	f.Close()
	if _, err := OpenStore(l); err != nil {
		t.Fatal(err)
	}
	if len(names(t, l.Open())) != 1 || len(names(t, l.Ready())) != 1 || records(t, l.Ready()) != 2 || records(t, l.Open()) != 1 {
		t.Fatalf("open/ %v ready/ %v", names(t, l.Open()), names(t, l.Ready()))
	}
}
