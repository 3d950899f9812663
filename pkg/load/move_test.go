package load

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
)

// onOtherFS puts archive/ and quarantine/ on another file system than
// inbound/, as when they are on a separate disk.
func onOtherFS(t *testing.T) *config.Settlement {
	t.Helper()
	s := central(t)
	other := testbin.OtherFS(t)
	s.Archive, s.Quarantine = filepath.Join(other, "archive"), filepath.Join(other, "quarantine")
	return s
}

// TestMovesAcrossFileSystems: with archive/ and quarantine/ on another
// file system, batches are loaded and moved (copy, fsync, rename, remove),
// a bad one is quarantined, and the next run finds nothing to do.
func TestMovesAcrossFileSystems(t *testing.T) {
	s := onOtherFS(t)
	makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
	makeBatch(t, s.Inbound, "ISPB", 2, 2, 2)
	makeBatch(t, s.Inbound, "ISPB", 3, 4, 2)
	editFile(t, filepath.Join(s.Inbound, "ISPB-0000000002.manifest"), "\nrecords 4\n", "\nrecords 5\n")
	r := load(t, s, Options{})
	var att *stage.AttentionError
	if !errors.As(r.err, &att) || r.counts[countLoaded] != 2 || r.counts[countQuarantined] != 1 || r.counts[countStuck] != 0 {
		t.Fatalf("err %v, counts %v\n%s", r.err, r.counts, r.logs)
	}
	if got := files(t, s.Inbound); got != "" {
		t.Errorf("inbound/ still holds %s", got)
	}
	if got, want := files(t, s.Archive), "ISPB-0000000001.manifest ISPB-0000000001.tar ISPB-0000000003.manifest ISPB-0000000003.tar"; got != want {
		t.Errorf("archive/ holds %s, want %s", got, want)
	}
	if got, want := files(t, s.Quarantine), "ISPB-0000000002.manifest ISPB-0000000002.reason ISPB-0000000002.tar"; got != want {
		t.Errorf("quarantine/ holds %s, want %s", got, want)
	}
	if r := load(t, s, Options{}); r.err != nil || r.counts[countBatches] != 0 {
		t.Errorf("second run: %v %v", r.err, r.counts)
	}
}

// TestInterruptedMovesAcrossFileSystems sets up what a crash leaves in the
// middle of a move across file systems (the copy complete under its final
// name, the original not yet removed) and checks that the next run
// finishes the move: nothing twice in the archive or quarantine, nothing
// loaded twice, inbound/ empty.
func TestInterruptedMovesAcrossFileSystems(t *testing.T) {
	const b = "ISPB-0000000001"
	for _, tc := range []struct {
		name  string
		bad   bool                                                // the batch is quarantined, not loaded
		undo  func(t *testing.T, s *config.Settlement, to string) // to: archive or quarantine
		count string
	}{
		{"archive: tar copied, not removed", false, func(t *testing.T, s *config.Settlement, to string) {
			copyFile(t, filepath.Join(to, b+".tar"), filepath.Join(s.Inbound, b+".tar"))
			moveBack(t, filepath.Join(to, b+".manifest"), filepath.Join(s.Inbound, b+".manifest"))
		}, countCopies},
		{"archive: manifest copied, not removed", false, func(t *testing.T, s *config.Settlement, to string) {
			copyFile(t, filepath.Join(to, b+".manifest"), filepath.Join(s.Inbound, b+".manifest"))
		}, countCopies},
		{"quarantine: tar copied, not removed", true, func(t *testing.T, s *config.Settlement, to string) {
			copyFile(t, filepath.Join(to, b+".tar"), filepath.Join(s.Inbound, b+".tar"))
			moveBack(t, filepath.Join(to, b+".manifest"), filepath.Join(s.Inbound, b+".manifest"))
		}, countQuarantined},
		{"quarantine: manifest copied, not removed", true, func(t *testing.T, s *config.Settlement, to string) {
			copyFile(t, filepath.Join(to, b+".manifest"), filepath.Join(s.Inbound, b+".manifest"))
		}, countQuarantined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := onOtherFS(t)
			makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
			to := s.Archive
			if tc.bad {
				editFile(t, filepath.Join(s.Inbound, b+".manifest"), "\nrecords 4\n", "\nrecords 5\n")
				to = s.Quarantine
			}
			before := files(t, to)
			load(t, s, Options{})
			tc.undo(t, s, to)
			r := load(t, s, Options{})
			if r.counts[tc.count] != 1 || r.counts[countLoaded] != 0 || r.counts[countStuck] != 0 {
				t.Fatalf("counts %v (err %v)\n%s", r.counts, r.err, r.logs)
			}
			if got := files(t, s.Inbound); got != "" {
				t.Errorf("inbound/ still holds %s\n%s", got, r.logs)
			}
			if got := files(t, to); got != before && !strings.HasPrefix(got, b) || strings.Contains(got, "~") {
				t.Errorf("%s holds %s", filepath.Base(to), got)
			}
			if !tc.bad {
				if n := queryInt(t, s, "SELECT count(*) FROM raw"); n != 4 {
					t.Errorf("%d rows, want 4", n)
				}
			}
		})
	}
}

// TestStuckBatchDoesNotBlockTheOthers: a batch that is loaded but cannot
// be moved out of inbound/ (the archive refuses it) is reported, the
// batches of every other sender still load, and the run fails (exit 1)
// naming it; once the archive takes files again the next run finishes the
// move without loading anything twice.
func TestStuckBatchDoesNotBlockTheOthers(t *testing.T) {
	s := central(t)
	makeBatch(t, s.Inbound, "ISPA", 1, 0, 2)
	makeBatch(t, s.Inbound, "ISPB", 1, 2, 2)
	// ISPA's tar cannot be moved (an immutable file refuses rename, even
	// to root): its batch is stuck, ISPB's is not.
	blocker := filepath.Join(s.Inbound, "ISPA-0000000001.tar")
	immutable(t, blocker)
	r := load(t, s, Options{})
	if r.err == nil || stage.ExitCode(r.err) != stage.ExitFailed || !strings.Contains(r.err.Error(), "ISPA-0000000001") {
		t.Fatalf("err %v\n%s", r.err, r.logs)
	}
	if r.counts[countLoaded] != 2 || r.counts[countStuck] != 1 || r.counts[countRecords] != 8 {
		t.Errorf("counts %v\n%s", r.counts, r.logs)
	}
	if got := files(t, s.Inbound); got != "ISPA-0000000001.manifest ISPA-0000000001.tar" {
		t.Errorf("inbound/ holds %s", got)
	}
	mutable(t, blocker)
	r = load(t, s, Options{})
	if r.err != nil || r.counts[countCopies] != 1 || r.counts[countLoaded] != 0 {
		t.Errorf("after the fix: err %v, counts %v\n%s", r.err, r.counts, r.logs)
	}
	if got := files(t, s.Inbound); got != "" {
		t.Errorf("inbound/ holds %s", got)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM raw"); n != 8 {
		t.Errorf("%d rows, want 8", n)
	}
}

// immutable makes a file refuse to be renamed, even by root (chattr +i);
// as another user, taking the write permission of its folder does it.
func immutable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		os.Chmod(filepath.Dir(path), 0o555)
		t.Cleanup(func() { os.Chmod(filepath.Dir(path), 0o755) })
		return
	}
	chattr := testbin.Require(t, "chattr")
	if out, err := exec.Command(chattr, "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s (file system without attributes)", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", path).Run() })
}

func mutable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		os.Chmod(filepath.Dir(path), 0o755)
		return
	}
	exec.Command("chattr", "-i", path).Run()
}

func moveBack(t *testing.T, from, to string) {
	t.Helper()
	copyFile(t, from, to)
	if err := os.Remove(from); err != nil {
		t.Fatal(err)
	}
}
