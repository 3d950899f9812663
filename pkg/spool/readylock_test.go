package spool

import (
	"os"
	"testing"
	"time"
)

// TestReadyLock: a close waits while the ready lock is held (a push
// swapping ready/ out), and a ready/ a crashed push left missing is made
// again by the next move into it, in plain and in journal mode.
func TestReadyLock(t *testing.T) {
	for _, journal := range []bool{false, true} {
		l := Layout{Root: t.TempDir()}
		s, err := OpenStore(l)
		if err != nil {
			t.Fatal(err)
		}
		if journal {
			if err := s.UseJournal(); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
		unlock, err := l.LockReady()
		if err != nil {
			t.Fatal(err)
		}
		// What a push that crashed between its rename and mkdir leaves.
		if err := os.Remove(l.Ready()); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			err := s.Add([]Record{rec(Start, "a", t0, 0), rec(Stop, "a", t0.Add(time.Minute), 60)})
			if err == nil && journal {
				err = s.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("journal=%v: the close did not wait for the ready lock (err %v)", journal, err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("journal=%v: %v", journal, err)
		}
		if got := names(t, l.Ready()); len(got) != 1 {
			t.Fatalf("journal=%v: ready/ holds %v, want the closed session", journal, got)
		}
	}
}
