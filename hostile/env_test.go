package hostile

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"roamsettle/internal/testbin"
)

const (
	partnersCSV = "id,name,country,realms,timezone\n" +
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\n" +
		"ISPB,Connect.com,Australia,connect.com.au connect.com,Australia/Sydney\n" +
		"ISPC,Eunet,Finland,eunet.fi,Europe/Helsinki\n"
	tariffsCSV = "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n" +
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n" +
		"ISPB,ISPA,2026-06-01,*,*,0.0250,0.0450,60,0\n"
	secret = "s3cret"
	// hostileNASes is how many extra NASes (127.0.0.10, .11, ...) the
	// configuration knows: each packet case sends from its own address,
	// so the listener's per-source log limit never hides a case's line.
	hostileNASes = 16
)

// env is one throwaway installation: an edge (ISPB, NAS nas1 at
// 127.0.0.1) and the central host in one folder with one roam.toml, as
// example/ has it.
type env struct {
	t      *testing.T
	dir    string
	cfg    string
	listen string
	nas    *nasClient // the listener's NAS, once the kill test needs it
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfg: filepath.Join(dir, "roam.toml"), listen: fmt.Sprintf("127.0.0.1:%d", testbin.FreeUDPPort(t))}
	var nas strings.Builder
	fmt.Fprintf(&nas, "[[edge.nas]]\nname = \"nas1\"\naddress = \"127.0.0.1\"\nsecret = %q\n\n", secret)
	for i := 0; i < hostileNASes; i++ {
		fmt.Fprintf(&nas, "[[edge.nas]]\nname = \"h%d\"\naddress = \"127.0.0.%d\"\nsecret = %q\n\n", i, 10+i, secret)
	}
	toml := fmt.Sprintf(`[settlement]
operator = "Roam Clearing"
currency = "USD"
partners = "partners.csv"
tariffs  = "tariffs.csv"
fee_per_session = "0.0100"
fee_per_minute  = "0.0020"
inbound    = "central/inbound"
archive    = "central/archive"
quarantine = "central/quarantine"
db         = "central/db/roam.db"
reports    = "central/reports"
publish    = "publish"

[edge]
isp   = "ISPB"
spool = "spool"
listen = %q
stale_after = "6h"
timezone = "Australia/Sydney"
push = "central/inbound"

%s`, e.listen, nas.String())
	e.write("roam.toml", toml)
	e.write("partners.csv", partnersCSV)
	e.write("tariffs.csv", tariffsCSV)
	for _, d := range []string{"central/inbound", "central/db", "spool"} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) path(p string) string { return filepath.Join(e.dir, p) }

func (e *env) write(name, text string) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(e.path(name)), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.path(name), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// command is the real binary name with --config and args, in a clean
// environment (no ROAM_* of the test's own), not started.
func (e *env) command(name string, stderr io.Writer, args ...string) *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command(testbin.Command(e.t, name), append([]string{"--config", e.cfg}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir}
	cmd.Dir = e.dir
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs a stage to its end and returns its exit code and stderr.
func (e *env) run(name string, args ...string) (int, string) {
	e.t.Helper()
	var stderr bytes.Buffer
	cmd := e.command(name, &stderr, args...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// A stage that hangs on a hostile input is a failure, not a stuck suite.
	hung := time.AfterFunc(time.Minute, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer func() {
		if !hung.Stop() {
			e.t.Errorf("%s %s hung: killed after a minute\n%s", name, strings.Join(args, " "), stderr.String())
		}
	}()
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			e.t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// must runs a stage and fails the test unless it exits with one of codes.
func (e *env) must(codes []int, name string, args ...string) string {
	e.t.Helper()
	code, out := e.run(name, args...)
	for _, c := range codes {
		if code == c {
			return out
		}
	}
	e.t.Fatalf("%s %s: exit %d, want %v\n%s", name, strings.Join(args, " "), code, codes, out)
	return out
}

var ok03 = []int{0, 3}

// edgeToInbound generates sessions of sample traffic at ISPB's NAS with
// seed, imports, sweeps and pushes them: one more batch in inbound/.
func (e *env) edgeToInbound(seed, sessions int) {
	e.t.Helper()
	e.detail(fmt.Sprintf("detail-%d", seed), seed, sessions)
	e.must(ok03, "roamcollect", "import", e.path(fmt.Sprintf("detail-%d", seed)))
	e.must(ok03, "roamcollect", "sweep")
	e.must(ok03, "roamcollect", "push")
}

// detail writes a roamsim detail file.
func (e *env) detail(name string, seed, sessions int) {
	e.t.Helper()
	out, err := exec.Command(testbin.Command(e.t, "roamsim"), "detail", "--partners", e.path("partners.csv"), "--isp", "ISPB",
		"--sessions", fmt.Sprint(sessions), "--seed", fmt.Sprint(seed), "--start", "2026-06-01", "--days", "28",
		"--nas-ip", "127.0.0.1").Output()
	if err != nil {
		e.t.Fatalf("roamsim: %v", err)
	}
	e.write(name, string(out))
}

// db opens the central database read-only for the checks.
func (e *env) db() *sql.DB {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path("central/db/roam.db")+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) count(query string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.db().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// files lists the names in a folder of the installation, sorted.
func (e *env) files(dir string) []string {
	ents, _ := os.ReadDir(e.path(dir))
	var names []string
	for _, x := range ents {
		names = append(names, x.Name())
	}
	sort.Strings(names)
	return names
}

// manifestRecords is the records line of a batch manifest.
func manifestRecords(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^records (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no records line", path)
	}
	var n int64
	fmt.Sscan(string(m[1]), &n)
	return n
}

// wantMatch fails unless text matches every pattern (regular expressions).
func wantMatch(t *testing.T, what, text string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(text) {
			t.Errorf("%s does not match %q:\n%s", what, p, text)
		}
	}
}

// mountTmpfs mounts a tmpfs of size on dir (emptied first) and unmounts
// it when the test ends. Without the right to mount it skips, except
// under CI=true, where it fails.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs on %s: %v: %s", dir, err, out)
		}
		t.Skipf("cannot mount a tmpfs (%v: %s); CI=true makes this a failure", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// remount gives a mounted tmpfs a new size (space freed).
func remount(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", dir, err, out)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
