package main

// Tests of the real roamcollect binary where the behaviour is the
// process's: signals, exit codes, locks held by another process, memory
// and log volume. The stages' logic is tested in pkg/acct and pkg/detail.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/spool"
)

// edgeHost is an edge host's folder with its roam.toml; its one NAS is
// 192.0.2.10 (the detail records' NAS) and 127.0.0.1 (for the listener).
type edgeHost struct {
	dir, cfg, spool string
	listen          string
}

func newEdgeHost(t *testing.T) *edgeHost {
	t.Helper()
	dir := t.TempDir()
	h := &edgeHost{dir: dir, cfg: filepath.Join(dir, "roam.toml"), spool: filepath.Join(dir, "spool"),
		listen: fmt.Sprintf("127.0.0.1:%d", testbin.FreeUDPPort(t))}
	toml := fmt.Sprintf(`[edge]
isp = "ISPB"
spool = "spool"
listen = %q
timezone = "Australia/Sydney"
stale_after = "6h"

[[edge.nas]]
name = "nas1"
address = "192.0.2.10"
secret = "s3cret"

[[edge.nas]]
name = "local"
address = "127.0.0.1"
secret = "s3cret"
`, h.listen)
	if err := os.WriteFile(h.cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *edgeHost) path(name string) string { return filepath.Join(h.dir, name) }

// command is roamcollect --config <cfg> args..., not started, with the
// same clean environment as testbin.Run.
func (h *edgeHost) command(t *testing.T, stderr *testbin.Output, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testbin.Command(t, "roamcollect"), append([]string{"--config", h.cfg}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stderr = stderr
	return cmd
}

// run runs roamcollect to its end, killing it after limit: a run that
// hangs fails the test instead of the test binary.
func (h *edgeHost) run(t *testing.T, limit time.Duration, args ...string) (int, string) {
	t.Helper()
	var stderr testbin.Output
	cmd := h.command(t, &stderr, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code, err := waitExit(cmd, limit)
	if err != nil {
		t.Fatalf("roamcollect %s: %v\n%.2000s", strings.Join(args, " "), err, stderr.String())
	}
	return code, stderr.String()
}

// waitExit waits up to limit for cmd and returns its exit code; after
// limit it kills it and says so.
func waitExit(cmd *exec.Cmd, limit time.Duration) (int, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return -1, err
		}
		return cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return -1, fmt.Errorf("still running after %v: killed", limit)
	}
}

// record is one detail record; a NAS other than 192.0.2.10 makes it
// malformed (no [[edge.nas]] has its address).
func record(session, nasIP string, ts int64) string {
	return fmt.Sprintf("Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Start\n\tAcct-Session-Id = %q\n\tUser-Name = \"u@aimnet.com\"\n\tNAS-IP-Address = %s\n\tTimestamp = %d\n\n", session, nasIP, ts)
}

// writeMalformed writes a detail file of about size bytes of malformed
// records (alternately an unknown NAS and a line that is not an
// attribute) and returns how many records it holds. It writes as it goes:
// this process stays small, so what the child's rusage counts from before
// its exec stays small too.
func writeMalformed(t *testing.T, path string, size int) int {
	t.Helper()
	unit := record("bad", "192.0.2.99", 1782845015) + "Tue Jun 30 18:43:36 2026\n\tthis is not an attribute\n\n"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := size / len(unit)
	for range n {
		w.WriteString(unit)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return 2 * n
}

// vmHWM is the peak resident set of a running process (VmHWM in
// /proc/<pid>/status, which starts afresh at exec); 0 when it has gone.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// count reads "name N" from the summary line.
func count(t *testing.T, stderr, name string) int64 {
	t.Helper()
	m := regexp.MustCompile(`summary: [^\n]*[:,] ` + regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no %q in the summary line:\n%.3000s", name, stderr)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// SIGTERM stops an import of a large file of malformed records at once,
// with the summary line and exit 1, and what it read is remembered.
func TestImportStopsOnSIGTERM(t *testing.T) {
	h := newEdgeHost(t)
	bad := h.path("detail-bad")
	total := writeMalformed(t, bad, 50<<20)
	var stderr testbin.Output
	cmd := h.command(t, &stderr, "import", bad)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "set aside"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("import logged no malformed record:\n%s", stderr.String())
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := waitExit(cmd, 5*time.Second)
	latency := time.Since(sent)
	if err != nil {
		t.Fatalf("after SIGTERM: %v\n%.2000s", err, stderr.String())
	}
	out := stderr.String()
	t.Logf("stopped %v after SIGTERM", latency.Round(time.Millisecond))
	if latency > 2*time.Second {
		t.Errorf("stopped %v after SIGTERM, want within 2s", latency)
	}
	if code != 1 || !strings.Contains(out, "summary: failed") || !strings.Contains(out, "stopped by a signal") {
		t.Errorf("exit %d, want 1 with the summary line and the reason:\n%.3000s", code, out)
	}
	if n := count(t, out, "records"); n <= 0 || n >= int64(total) {
		t.Errorf("read %d of %d records: not stopped part way", n, total)
	}
	// The next run goes on from where the stopped one got to.
	code, out = h.run(t, time.Minute, "import", bad)
	if code != 3 {
		t.Fatalf("second run: exit %d:\n%.2000s", code, out)
	}
	if n := count(t, out, "skipped_already_imported"); n <= 0 {
		t.Errorf("the second run started again from the beginning:\n%.2000s", out)
	}
}

// A FIFO with no writer, a device and a folder are refused at once, by
// name, and counted (exit 3); the good file beside them is imported.
func TestImportRefusesNonRegularFiles(t *testing.T) {
	h := newEdgeHost(t)
	fifo := h.path("fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	good := h.path("detail")
	if err := os.WriteFile(good, []byte(record("s1", "192.0.2.10", 1782845015)+record("s2", "192.0.2.10", 1782845016)), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := h.path("folder")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out := h.run(t, 10*time.Second, "import", fifo, "/dev/zero", good, folder)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	for _, want := range []string{fifo, "/dev/zero", folder} {
		if !regexp.MustCompile(regexp.QuoteMeta(want) + `[^\n]*not a regular file`).MatchString(out) {
			t.Errorf("no message refusing %s:\n%s", want, out)
		}
	}
	if n := count(t, out, "imported"); n != 2 {
		t.Errorf("imported %d records of the good file, want 2", n)
	}
	if n := count(t, out, "refused"); n != 3 {
		t.Errorf("refused %d files, want 3", n)
	}
}

// 50 MB of malformed records cost neither memory nor log: the peak RSS
// stays that of a small run and the log is a few lines, with the count of
// the lines left out.
func TestImportBoundedMemoryAndLog(t *testing.T) {
	h := newEdgeHost(t)
	bad := h.path("detail-bad")
	total := writeMalformed(t, bad, 50<<20)
	var stderr testbin.Output
	cmd := h.command(t, &stderr, "import", bad)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak is read while it runs: the last reading before it exits.
	var peak int64
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			hwm := vmHWM(cmd.Process.Pid)
			if hwm == 0 {
				return
			}
			peak = hwm
			time.Sleep(20 * time.Millisecond)
		}
	}()
	code, err := waitExit(cmd, 2*time.Minute)
	<-watched
	if err != nil {
		t.Fatal(err)
	}
	out := stderr.String()
	if code != 3 {
		t.Fatalf("exit %d, want 3:\n%.2000s", code, out)
	}
	if n := count(t, out, "malformed"); n != int64(total) {
		t.Errorf("malformed %d, want %d", n, total)
	}
	maxrss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux; counts this process's RSS from before the exec
	t.Logf("%d malformed records (50 MB): peak RSS %d MiB (rusage %d MiB), log %d bytes", total, peak>>20, maxrss>>20, len(out))
	if peak == 0 || peak > 64<<20 {
		t.Errorf("peak RSS %d MiB for 50 MB of malformed records, want under 64 MiB", peak>>20)
	}
	if len(out) > 32<<10 {
		t.Errorf("log of %d bytes for 50 MB of malformed records, want under 32 KiB", len(out))
	}
	if !strings.Contains(out, "not logged") {
		t.Errorf("the log does not say how many malformed records it left out:\n%.3000s", out)
	}
}

// import while a listener holds the spool's open lock exits 4 and names
// the holder.
func TestImportLockedByListener(t *testing.T) {
	h := newEdgeHost(t)
	var listenErr testbin.Output
	listen := h.command(t, &listenErr, "listen")
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		listen.Process.Signal(syscall.SIGTERM)
		if code, err := waitExit(listen, 20*time.Second); err != nil || code != 0 {
			t.Errorf("listen after SIGTERM: exit %d, %v", code, err)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(listenErr.String(), "listening for RADIUS accounting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start:\n%s", listenErr.String())
		}
	}
	good := h.path("detail")
	if err := os.WriteFile(good, []byte(record("s1", "192.0.2.10", 1782845015)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := h.run(t, 10*time.Second, "import", good)
	if code != 4 {
		t.Fatalf("exit %d, want 4:\n%s", code, out)
	}
	for _, want := range []string{spool.OpenLock, fmt.Sprintf("pid %d ", listen.Process.Pid), "roamcollect listen", "status=locked"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not name the holder (%q):\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(h.spool, "import", "state")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a locked import touched the import state: %v", err)
	}
}

// sweep, with no listener, closes a session whose last record was
// received longer than stale_after ago and leaves a recent one open.
func TestSweepClosesStale(t *testing.T) {
	h := newEdgeHost(t)
	l := spool.Layout{Root: h.spool}
	st, err := spool.OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := func(sid string, received time.Time) spool.Record {
		return spool.Record{Received: received, EventTime: received, Origin: "radius", NAS: "local", PacketID: -1,
			StatusType: spool.Start, SessionID: sid, UserName: "u@aimnet.com"}
	}
	if err := st.Add([]spool.Record{rec("stale", now.Add(-7*time.Hour)), rec("fresh", now.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	code, out := h.run(t, 20*time.Second, "sweep")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := count(t, out, "closed"); n != 1 {
		t.Errorf("closed %d, want 1", n)
	}
	if n := count(t, out, "open"); n != 1 {
		t.Errorf("open %d, want 1", n)
	}
	ready, _ := filepath.Glob(filepath.Join(l.Ready(), "*"+spool.FileExt))
	open, _ := filepath.Glob(filepath.Join(l.Open(), "*"+spool.FileExt))
	if len(ready) != 1 || !strings.Contains(filepath.Base(ready[0]), "stale") || len(open) != 1 || !strings.Contains(filepath.Base(open[0]), "fresh") {
		t.Fatalf("ready/ %v, open/ %v: want the stale session ready, the fresh one open", ready, open)
	}
	if recs, err := spool.ReadFile(ready[0]); err != nil || len(recs) != 1 || recs[0].SessionID != "stale" {
		t.Fatalf("ready file: %v, %v", recs, err)
	}
}

// A CRC-damaged session file and a foreign file in spool/open/ used to
// keep the listener from starting (a crash loop under systemd) and make
// sweep and push fail, so the good sessions in ready/ were not sent
// either. Now each real binary sets the damaged file aside in bad/ with its
// reason, goes on, and exits 3; push delivers what is in ready/.
func TestDamagedOpenFileStopsNothing(t *testing.T) {
	h := newEdgeHost(t)
	text := strings.Replace(string(must(os.ReadFile(h.cfg))), "stale_after = \"6h\"\n", "stale_after = \"6h\"\npush = \"outbox\"\n", 1)
	os.WriteFile(h.cfg, []byte(text), 0o600)
	l := spool.Layout{Root: h.spool}
	st, err := spool.OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	r := spool.Record{Received: now, EventTime: now, Origin: "radius", NAS: "local", PacketID: -1, StatusType: spool.Start, SessionID: "good", UserName: "u@aimnet.com"}
	stop := r
	stop.StatusType, stop.SessionTime = spool.Stop, 60
	if err := st.Add([]spool.Record{r, stop}); err != nil { // a closed session, in ready/
		t.Fatal(err)
	}
	plant := func() {
		os.WriteFile(filepath.Join(l.Open(), "local_20260630T000000Z_bad.sess"), []byte(spool.Header+"\nstatus_type=Stop\tcrc=00000000\n"), 0o644)
	}
	plant()
	os.WriteFile(filepath.Join(l.Open(), "notes.txt"), []byte("left by someone\n"), 0o644)

	var listenErr testbin.Output
	listen := h.command(t, &listenErr, "listen")
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(listenErr.String(), "listening for RADIUS accounting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			listen.Process.Kill()
			t.Fatalf("listen did not start:\n%s", listenErr.String())
		}
	}
	listen.Process.Signal(syscall.SIGTERM)
	if code, err := waitExit(listen, 20*time.Second); err != nil || code != 3 {
		t.Fatalf("listen after SIGTERM: exit %d (want 3), %v\n%s", code, err, listenErr.String())
	}
	if !strings.Contains(listenErr.String(), "local_20260630T000000Z_bad.sess") || !strings.Contains(listenErr.String(), "notes.txt") {
		t.Errorf("listen does not name what it set aside:\n%s", listenErr.String())
	}
	if _, err := os.Stat(filepath.Join(l.Bad(), "local_20260630T000000Z_bad.sess"+spool.ReasonExt)); err != nil {
		t.Errorf("no reason in bad/: %v", err)
	}

	plant() // again, for sweep and push
	for _, cmd := range []string{"sweep", "push"} {
		code, out := h.run(t, 20*time.Second, cmd)
		if code != 3 || !strings.Contains(out, "set_aside 2") {
			t.Fatalf("%s: exit %d (want 3, set_aside 2):\n%s", cmd, code, out)
		}
		if cmd == "sweep" {
			plant()
		}
	}
	if got, _ := filepath.Glob(filepath.Join(h.path("outbox"), "ISPB-*.manifest")); len(got) != 1 {
		t.Errorf("push delivered %v, want the one batch of ready/", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
