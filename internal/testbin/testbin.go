// Package testbin finds the real programs tests talk to (radclient, sshd,
// sqlite3, ...) and builds this project's own commands for tests that run
// them as processes.
package testbin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require returns the path of a program, looking in PATH and then in the
// given fallback paths (sshd lives in /usr/sbin). When it is missing the
// test is skipped, except under CI=true, where it fails: CI must have
// every real part installed.
func Require(t testing.TB, name string, fallbacks ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, f := range fallbacks {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI needs it (scripts/test.sh installs it)", name)
	}
	t.Skipf("%s is not installed (scripts/test.sh installs it)", name)
	return ""
}

var (
	buildOnce sync.Map // command name -> *buildResult
)

type buildResult struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Command builds ./cmd/<name> of this module once per test binary and
// returns the executable's path.
func Command(t testing.TB, name string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(name, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		pruneOld()
		dir, err := os.MkdirTemp("", binDirPrefix)
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = moduleRoot()
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, b.err, b.out)
	}
	return b.path
}

// binDirPrefix names the temporary folders built commands go to.
const binDirPrefix = "roamsettle-bin-"

// pruneOld removes build folders left by earlier test processes (a test
// binary has no exit hook to remove its own); no test run lasts 3 hours.
func pruneOld() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), binDirPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 3*time.Hour {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Output collects what a process (or a logger) writes while the test
// reads it: a bytes.Buffer safe for concurrent use.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Run runs this module's command name (built with Command) with args and
// an environment of only PATH, a fresh HOME and extraEnv — no ROAM_* or
// SSH_AUTH_SOCK leaks in from the test's own. It returns the exit code
// (-1 when a signal killed it) and what it wrote to stderr.
func Run(t testing.TB, name string, extraEnv []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(Command(t, name), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}
