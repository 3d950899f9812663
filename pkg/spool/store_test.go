package spool

import (
	"os"
	"testing"
	"time"
)

func rec(status, sid string, event time.Time, sessTime int64) Record {
	return Record{StatusType: status, SessionID: sid, NAS: "nas1", UserName: "u@aimnet.com",
		EventTime: event, Received: event, SessionTime: sessTime}
}

func names(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestStoreLifecycle(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s, err := OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Add([]Record{rec(Start, "a", t0, 0), rec(Interim, "a", t0.Add(60*time.Second+2*time.Second), 60)}))
	must(s.Add([]Record{rec(Start, "b", t0, 0)}))
	if len(names(t, l.Open())) != 2 || s.OpenCount() != 2 {
		t.Fatalf("open: %v", names(t, l.Open()))
	}
	// A restart rebuilds the index from disk.
	s, err = OpenStore(l)
	must(err)
	must(s.Add([]Record{rec(Stop, "a", t0.Add(300*time.Second), 300)}))
	if got := names(t, l.Ready()); len(got) != 1 {
		t.Fatalf("ready after Stop: %v", got)
	}
	recs, err := ReadFile(l.Ready() + "/" + names(t, l.Ready())[0])
	if err != nil || len(recs) != 3 {
		t.Fatalf("session a has %d records: %v", len(recs), err)
	}
	// Session id reused hours later (NAS reboot without Accounting-On): a new session.
	must(s.Add([]Record{rec(Start, "b", t0.Add(5*time.Hour), 0)}))
	if len(names(t, l.Open())) != 2 {
		t.Fatalf("reused id must open a second file: %v", names(t, l.Open()))
	}
	n, err := s.Sweep(t0.Add(7*time.Hour), 6*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep closed %d, %v", n, err)
	}
	on := rec(AccountingOn, "", t0.Add(8*time.Hour), 0)
	must(s.Add([]Record{on}))
	if len(names(t, l.Open())) != 0 || len(names(t, l.Ready())) != 4 {
		t.Fatalf("after Accounting-On: open %v ready %v", names(t, l.Open()), names(t, l.Ready()))
	}
	// A late Stop for a session already closed lands in a new file, not over the old one.
	must(s.Add([]Record{rec(Stop, "a", t0.Add(300*time.Second), 300)}))
	if len(names(t, l.Ready())) != 5 {
		t.Fatalf("late stop: %v", names(t, l.Ready()))
	}
}
