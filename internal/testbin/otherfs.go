package testbin

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// OtherFS returns an empty folder on another file system than the test's
// temporary folders, for moves that cross file systems (EXDEV): under
// /dev/shm when that is a separate tmpfs, else a tmpfs mounted for the
// test (root only). Without either the test is skipped, except under
// CI=true, where it fails.
func OtherFS(t testing.TB) string {
	t.Helper()
	tmp := t.TempDir()
	if dir, err := os.MkdirTemp("/dev/shm", "roamsettle-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		if device(dir) != device(tmp) {
			return dir
		}
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", tmp).CombinedOutput(); err == nil {
			t.Cleanup(func() { exec.Command("umount", tmp).Run() })
			return tmp
		} else {
			t.Logf("mount tmpfs: %v: %s", err, out)
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no second file system for the test (/dev/shm, or mount as root)")
	}
	t.Skip("no second file system for the test (/dev/shm, or mount as root)")
	return ""
}

func device(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return uint64(st.Dev)
}
