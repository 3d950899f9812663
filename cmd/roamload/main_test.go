package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/app"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/load"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/store"
)

// crashChildEnv makes this test binary act as roamload with a crash
// point: the seam is an option injected into newApp, and only the test
// binary reads this variable, never the production one.
const crashChildEnv = "ROAMLOAD_TEST_CRASH_CHILD"

func TestMain(m *testing.M) {
	if at := os.Getenv(crashChildEnv); at != "" {
		crash := func(point string) {
			if point == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		os.Exit(app.Main(newApp(load.Options{Crash: crash}), append([]string{"roamload"}, os.Args[1:]...), os.Stderr))
	}
	os.Exit(m.Run())
}

// Partners and tariffs every central test configuration has: each central
// command checks the whole [settlement] section before it works.
const (
	testPartners = "id,name,country,realms,timezone\nISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"
	testTariffs  = "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n"
)

// central is a central host's data folder with its roam.toml.
type central struct {
	dir, cfg string
}

func newCentral(t *testing.T, extra string) central {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "roam.toml")
	text := "[settlement]\ninbound = \"inbound\"\narchive = \"archive\"\nquarantine = \"quarantine\"\ndb = \"db/roam.db\"\n" + extra
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "inbound"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte(testPartners), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte(testTariffs), 0o644)
	return central{dir, cfg}
}

func (c central) path(p string) string { return filepath.Join(c.dir, p) }

// roamload runs the real binary, or, with a crash point, this test binary
// acting as roamload that kills itself there. It returns the exit code
// (-1 when killed by a signal) and stderr.
func roamload(t *testing.T, crashAt string, args ...string) (int, string) {
	t.Helper()
	if crashAt == "" {
		return testbin.Run(t, "roamload", nil, args...)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), crashChildEnv + "=" + crashAt}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// makeBatches writes n batches of sessions sessions each (two records a
// session) into dir and returns the number of records.
func makeBatches(t *testing.T, dir string, n, sessions int) int64 {
	t.Helper()
	sp := t.TempDir()
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	var records int64
	for b := 1; b <= n; b++ {
		w, err := batch.Create(dir, "ISPB", uint64(b), t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < sessions; i++ {
			k := b*sessions + i
			start := t0.Add(time.Duration(k) * time.Second)
			r := spool.Record{StatusType: spool.Start, NAS: "nas1", SessionID: fmt.Sprintf("%08X", k), UserName: "u@aimnet.com",
				EventTime: start, Received: start, TimeZone: "Australia/Sydney", Origin: "radius", PacketID: -1}
			stop := r
			stop.StatusType, stop.SessionTime, stop.EventTime = spool.Stop, int64(60+i%600), start.Add(time.Duration(60+i%600)*time.Second)
			p := filepath.Join(sp, spool.FileName("nas1", r.SessionID, start))
			if err := spool.Append(p, []spool.Record{r, stop}, false); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Add(p); err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			records += 2
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return records
}

// checkLoadedOnce checks that every batch is recorded once, its rows are
// all there once, and its files are in archive/.
func checkLoadedOnce(t *testing.T, c central, batches int, records int64) {
	t.Helper()
	db, err := store.Open(context.Background(), c.path("db/roam.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var nb, nr, dup, missing int64
	q := db.SQL()
	q.QueryRow("SELECT count(*) FROM batches").Scan(&nb)
	q.QueryRow("SELECT count(*) FROM raw").Scan(&nr)
	// No record twice: (member, line) is unique per load.
	q.QueryRow("SELECT count(*) FROM (SELECT 1 FROM raw GROUP BY member_id, line HAVING count(*) > 1)").Scan(&dup)
	q.QueryRow("SELECT count(*) FROM batches b WHERE records != (SELECT count(*) FROM raw r WHERE r.batch_id = b.batch_id)").Scan(&missing)
	if nb != int64(batches) || nr != records || dup != 0 || missing != 0 {
		t.Errorf("%d batches (want %d), %d rows (want %d), %d duplicated, %d batches short", nb, batches, nr, records, dup, missing)
	}
	ents, _ := os.ReadDir(c.path("archive"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2*batches {
		t.Errorf("archive/ holds %v, want %d batches", names, batches)
	}
	if ents, _ := os.ReadDir(c.path("inbound")); len(ents) != 0 {
		t.Errorf("inbound/ still holds %d files", len(ents))
	}
}

// TestCrashPoints kills roamload (SIGKILL, from inside) at each point of a
// batch's load, then runs it again: every batch ends loaded exactly once.
func TestCrashPoints(t *testing.T) {
	for _, point := range []string{load.CrashBeforeCommit, load.CrashAfterCommit, load.CrashAfterDataMv} {
		t.Run(point, func(t *testing.T) {
			c := newCentral(t, "")
			records := makeBatches(t, c.path("inbound"), 3, 50)
			code, stderr := roamload(t, point, "--config", c.cfg)
			if code != -1 {
				t.Fatalf("not killed at %s: exit %d\n%s", point, code, stderr)
			}
			code, stderr = roamload(t, "", "--config", c.cfg)
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, stderr)
			}
			checkLoadedOnce(t, c, 3, records)
		})
	}
}

// TestKillAnywhere kills roamload from outside at random moments while it
// loads, again and again, then lets a run finish.
func TestKillAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	c := newCentral(t, "")
	records := makeBatches(t, c.path("inbound"), 6, 4000)
	bin := testbin.Command(t, "roamload")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	kills, runs := 0, 0
	for done := false; !done && runs < 20; runs++ {
		cmd := exec.Command(bin, "--config", c.cfg)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Short enough that most runs die part-way through a batch.
		time.AfterFunc(time.Duration(30+rng.IntN(300))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			done = true
		case errors.As(err, &ee) && ee.ExitCode() == -1:
			kills++
		default:
			t.Fatalf("run %d: %v\n%s", runs, err, stderr.String())
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed: the test proves nothing")
	}
	code, stderr := roamload(t, "", "--config", c.cfg)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s", code, stderr)
	}
	t.Logf("%d of %d runs killed", kills, runs)
	checkLoadedOnce(t, c, 6, records)
}

func TestExitCodesAndStatus(t *testing.T) {
	c := newCentral(t, "")
	makeBatches(t, c.path("inbound"), 3, 5)
	os.Remove(c.path("inbound/ISPB-0000000002.tar"))
	code, stderr := roamload(t, "", "--config", c.cfg, "--dry-run")
	if code != 3 || !strings.Contains(stderr, "would be quarantined") {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	code, stderr = roamload(t, "", "--config", c.cfg)
	if code != 3 || !strings.Contains(stderr, "batches 3, loaded 2, copies 0, quarantined 1, records 20") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	cmd := exec.Command(testbin.Command(t, "roamload"), "--config", c.cfg, "status", "--json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"last_sequence": 3`, `"from": 2`, `"slot": "ISPB-0000000002"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status --json does not show %s:\n%s", want, out)
		}
	}
	if code, _ := roamload(t, "", "--config", c.cfg); code != 0 {
		t.Errorf("a run with nothing new: exit %d", code)
	}
}

// TestPushThenLoad pushes with the real roamcollect to a local folder and
// loads what arrived.
func TestPushThenLoad(t *testing.T) {
	c := newCentral(t, "\n[edge]\nisp = \"ISPB\"\nspool = \"spool\"\npush = \"inbound\"\n")
	st, err := spool.OpenStore(spool.Layout{Root: c.path("spool")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		r := spool.Record{StatusType: spool.Start, NAS: "nas1", SessionID: fmt.Sprint("s", i), UserName: "u@aimnet.com",
			EventTime: t0.Add(time.Duration(i) * time.Minute), Received: t0.Add(time.Duration(i) * time.Minute), Origin: "radius", PacketID: -1}
		stop := r
		stop.StatusType, stop.SessionTime, stop.EventTime = spool.Stop, 300, r.EventTime.Add(300*time.Second)
		if err := st.Add([]spool.Record{r, stop}); err != nil {
			t.Fatal(err)
		}
	}
	push := exec.Command(testbin.Command(t, "roamcollect"), "--config", c.cfg, "push")
	push.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("roamcollect push: %v\n%s", err, out)
	}
	code, stderr := roamload(t, "", "--config", c.cfg)
	if code != 0 || !strings.Contains(stderr, "loaded 1,") || !strings.Contains(stderr, "records 60") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	checkLoadedOnce(t, c, 1, 60)
}

// TestUnreadableManifestDoesNotBlock: a batch whose manifest cannot be
// read (its permissions) is reported and left in inbound/; the other
// senders' batches load, and the run exits 3. As root (who reads
// everything) roamload runs as the user nobody.
func TestUnreadableManifestDoesNotBlock(t *testing.T) {
	c := newCentral(t, "")
	for _, sender := range []string{"ISPA", "ISPB"} {
		w, err := batch.Create(c.path("inbound"), sender, 1, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	bin := testbin.Command(t, "roamload")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// nobody must reach the data folder and run the binary.
		for d := c.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		filepath.WalkDir(c.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				os.Chown(p, 65534, 65534)
			}
			return nil
		})
		data, _ := os.ReadFile(bin)
		bin = c.path("roamload")
		os.WriteFile(bin, data, 0o755)
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	manifest := c.path("inbound/ISPA-0000000001.manifest")
	os.Chown(manifest, 0, 0)
	os.Chmod(manifest, 0)
	cmd := exec.Command(bin, "--config", c.cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, _ := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	if code != 3 || !strings.Contains(string(out), "loaded 1,") || !strings.Contains(string(out), "skipped 1") ||
		!strings.Contains(string(out), "ISPA-0000000001.manifest: permission denied") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, err := os.Stat(manifest); err != nil {
		t.Errorf("the unreadable batch left inbound/: %v", err)
	}
	if _, err := os.Stat(c.path("archive/ISPB-0000000001.manifest")); err != nil {
		t.Errorf("the other sender's batch was not loaded and archived: %v", err)
	}
}
