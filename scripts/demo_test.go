// Package scripts holds the repository's shell scripts; its test runs
// scripts/demo.sh as a user would, from a fresh folder.
package scripts

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demo runs ./demo.sh into dir with roamsim's built-in NAS; it returns the
// exit code and the output.
func demo(t *testing.T, dir string) (int, string) {
	t.Helper()
	// Read here so that go test's cache knows the script (a subprocess's
	// reads are not seen).
	if _, err := os.ReadFile("demo.sh"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./demo.sh", dir)
	cmd.Env = append(os.Environ(), "RADCLIENT=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("demo.sh still running after 2 minutes:\n%s", out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// The demo's listener port taken by another program: the demo stops at
// once, exit 1, naming the port and the listener's error, instead of
// sending into the other program, waiting out every request and going on
// to report a month without that listener's sessions (exit 0).
func TestDemoPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:18130")
	if err != nil {
		t.Skipf("port 18130 not free: %v", err)
	}
	defer pc.Close()
	start := time.Now()
	code, out := demo(t, t.TempDir())
	if code != 1 || !strings.Contains(out, "address already in use") || !strings.Contains(out, "18130") || strings.Contains(out, "roamreport") {
		t.Errorf("exit %d, want 1 with the listener's error, before any report:\n%s", code, out)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
}

// Two runs in different folders write byte-identical reports.
func TestDemoTwiceSameReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo twice")
	}
	var dirs [2]string
	for i := range dirs {
		dirs[i] = t.TempDir()
		if code, out := demo(t, dirs[i]); code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i+1, code, out)
		}
	}
	diff, err := exec.Command("diff", "-r", filepath.Join(dirs[0], "data/central/reports/2026-06"), filepath.Join(dirs[1], "data/central/reports/2026-06")).CombinedOutput()
	if err != nil {
		t.Errorf("the two runs' reports differ: %v\n%.3000s", err, diff)
	}
}
