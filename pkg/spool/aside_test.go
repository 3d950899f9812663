package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenStoreSetsAsideWhatItCannotUse: a CRC-damaged session file and a
// foreign file named like one in open/ go to bad/ with a reason naming the
// file and line; folders, links and other names are reported and left;
// the good sessions are indexed and go on.
func TestOpenStoreSetsAsideWhatItCannotUse(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	s, err := OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	if err := s.Add([]Record{rec(Start, "good", t0, 0), rec(Start, "damaged", t0, 0), rec(Interim, "damaged", t0.Add(time.Minute), 60)}); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(l.Open(), FileName("nas1", "damaged", t0))
	data, _ := os.ReadFile(damaged)
	os.WriteFile(damaged, []byte(strings.Replace(string(data), "Interim-Update", "Interim-Updxte", 1)), 0o644)
	os.WriteFile(filepath.Join(l.Open(), "foreign.sess"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(l.Open(), "notes.txt"), []byte("hi\n"), 0o644)
	os.Mkdir(filepath.Join(l.Open(), "folder.sess"), 0o755)
	os.Symlink("/etc/hostname", filepath.Join(l.Open(), "link.sess"))

	s, err = OpenStore(l)
	if err != nil {
		t.Fatalf("OpenStore refused to open: %v", err)
	}
	got := map[string]Aside{}
	for _, a := range s.Aside() {
		got[filepath.Base(a.Path)] = a
	}
	for name, want := range map[string]struct {
		moved  bool
		reason string
	}{
		filepath.Base(damaged): {true, filepath.Base(damaged) + ":3: field crc"},
		"foreign.sess":         {true, "foreign.sess:1: not a spool file"},
		"notes.txt":            {false, "a name not ending in .sess"},
		"folder.sess":          {false, "a folder"},
		"link.sess":            {false, "a symbolic link"},
	} {
		a, ok := got[name]
		if !ok {
			t.Errorf("%s not reported (got %v)", name, s.Aside())
			continue
		}
		if (a.To != "") != want.moved || !strings.Contains(a.Reason, want.reason) {
			t.Errorf("%s: %+v, want moved %v and reason with %q", name, a, want.moved, want.reason)
		}
		if want.moved {
			reason, err := os.ReadFile(a.To + ReasonExt)
			if err != nil || !strings.Contains(string(reason), want.reason) {
				t.Errorf("%s: .reason %q, %v", name, reason, err)
			}
			if _, err := os.Lstat(a.Path); !os.IsNotExist(err) {
				t.Errorf("%s still in open/", name)
			}
		} else if _, err := os.Lstat(a.Path); err != nil {
			t.Errorf("%s was moved: %v", name, err)
		}
	}
	if len(got) != 5 || s.OpenCount() != 1 {
		t.Errorf("%d set aside, %d open sessions", len(got), s.OpenCount())
	}
	if err := s.Add([]Record{rec(Stop, "good", t0.Add(5*time.Minute), 300)}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, l.Ready()); len(got) != 1 || !strings.Contains(got[0], "good") {
		t.Errorf("ready/: %v", got)
	}
}

// TestRecoverSetsAsideBadSegments: an unreadable journal segment, and one
// whose entries name paths outside open/, do not stop the Store: the
// first goes to bad/ whole, the second has its good entries applied, its
// bad ones refused (nothing is written outside open/), and goes to bad/.
func TestRecoverSetsAsideBadSegments(t *testing.T) {
	root := filepath.Join(t.TempDir(), "spool")
	l := Layout{Root: root}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(l.Journal(), 0o755)
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	good := rec(Start, "j1", t0, 0)
	line := good.AppendLine(nil)
	line = line[:len(line)-1]
	name := FileName("nas1", "j1", t0)
	var seg []byte
	seg = appendEntry(seg, entryAppend, "../escape.sess", line)
	seg = appendEntry(seg, entryAppend, name, line)
	seg = appendEntry(seg, entryClose, "sub/../../x.sess", nil)
	seg = appendEntry(seg, entryAppend, name, []byte("not a spool line"))
	os.WriteFile(segmentPath(l, 2), seg, 0o644)
	os.Mkdir(segmentPath(l, 1), 0o755) // cannot be read as a file

	s, err := OpenStore(l)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	if a := s.Aside(); len(a) != 2 || !strings.Contains(a[0].Reason, "cannot be read") ||
		!strings.Contains(a[1].Reason, `entry 1 names "../escape.sess"`) || !strings.Contains(a[1].Reason, `entry 3 names "sub/../../x.sess"`) ||
		!strings.Contains(a[1].Reason, "entry 4 (for "+name+")") {
		t.Fatalf("set aside: %+v", a)
	}
	if _, err := os.Stat(filepath.Join(root, "escape.sess")); !os.IsNotExist(err) {
		t.Error("a journal entry wrote outside open/")
	}
	recs, err := ReadFile(filepath.Join(l.Open(), name))
	if err != nil || len(recs) != 1 || recs[0].SessionID != "j1" {
		t.Errorf("the good entry was not applied: %v %v", recs, err)
	}
	if segs, _ := segments(l); len(segs) != 0 {
		t.Errorf("segments left in the journal: %v", segs)
	}
	if got := names(t, l.Bad()); strings.Join(got, " ") != "journal-0000000000000001.log journal-0000000000000001.log.reason journal-0000000000000002.log journal-0000000000000002.log.reason" {
		t.Errorf("bad/: %v", got)
	}
	if s.OpenCount() != 1 {
		t.Errorf("%d open sessions", s.OpenCount())
	}
}
