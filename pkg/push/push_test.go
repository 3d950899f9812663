package push_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/sshdtest"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/push"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/transport/local"
	"roamsettle/pkg/transport/sftp"
)

func localEdge(t *testing.T) (*config.Edge, string) {
	dir := t.TempDir()
	return &config.Edge{ISP: "ISPB", Spool: filepath.Join(dir, "spool"), StaleAfter: 6 * time.Hour,
		Push: filepath.Join(dir, "outbox")}, filepath.Join(dir, "outbox")
}

func TestPushLocalFolder(t *testing.T) {
	edge, outbox := localEdge(t)
	recs := writeReady(t, edge.Spool, 25, 0)

	run, _, err := pushNow(t, edge, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	if r, s, b := countRecords(t, edge.Spool); r != 0 || s != recs || b != 0 {
		t.Fatalf("ready %d, sent %d, bad %d records; want 0, %d, 0", r, s, b, recs)
	}
	sent := filepath.Join(edge.Spool, spool.SentDir, "ISPB-0000000001")
	if n := len(names(t, sent)); n != 26 {
		t.Fatalf("sent/ISPB-0000000001 holds %d files, want 25 and the manifest", n)
	}
	if n := names(t, filepath.Join(edge.Spool, push.OutgoingDir)); len(n) != 0 {
		t.Fatalf("outgoing/ not empty: %v", n)
	}
	for name, want := range map[string]int64{"batches": 1, "batch": 1, "files": 25, "records": int64(recs)} {
		if got := run.Count(name); got != want {
			t.Errorf("summary %s = %d, want %d", name, got, want)
		}
	}

	// Nothing new: no batch, no number used.
	run, _, err = pushNow(t, edge, fastOptions())
	if err != nil || run.Count("batches") != 0 {
		t.Fatalf("empty push: %v, %d batches", err, run.Count("batches"))
	}
	// New sessions: the next number.
	recs += writeReady(t, edge.Spool, 3, 1000)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001", "ISPB-0000000002")
	if r, s, _ := countRecords(t, edge.Spool); r != 0 || s != recs {
		t.Fatalf("ready %d, sent %d; want 0, %d", r, s, recs)
	}
	if b, _ := os.ReadFile(filepath.Join(edge.Spool, push.StateDir, "ISPB.seq")); string(b) != "2\n" {
		t.Fatalf("state holds %q, want 2", b)
	}
}

func TestPushSFTP(t *testing.T) {
	s := sshdtest.Start(t)
	edge, inbound := sftpEdge(t, s)
	recs := writeReady(t, edge.Spool, 200, 0)
	run, logs, err := pushNow(t, edge, fastOptions())
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s\nsshd:\n%s", err, logs, s.LogText())
	}
	checkCentral(t, inbound, "ISPB-0000000001")
	if r, sent, _ := countRecords(t, edge.Spool); r != 0 || sent != recs {
		t.Fatalf("ready %d, sent %d records; want 0, %d", r, sent, recs)
	}
	if run.Count("files") != 200 || run.Count("bytes") == 0 {
		t.Fatalf("summary files %d bytes %d", run.Count("files"), run.Count("bytes"))
	}
}

// TestPushRefused: every permanent fault fails at once (no retries), with
// exit 1 and a message that says what is wrong, and moves nothing.
func TestPushRefused(t *testing.T) {
	s := sshdtest.Start(t)
	_, otherHostKey := s.NewKey("other_host_key")
	wrongKey, _ := s.NewKey("not_authorized")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *config.Edge)
		want  []string
		check func(t *testing.T, err error)
	}{
		{"unknown host", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(e.KnownHosts, nil, 0o600)
		}, []string{"UNKNOWN", "refusing", fmt.Sprintf("ssh-keyscan -p %d -t ed25519 127.0.0.1 >>", s.Port), "SHA256:"}, isHostKey(false)},
		{"no known_hosts file", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "absent")
		}, []string{"UNKNOWN", "ssh-keyscan -p"}, isHostKey(false)},
		{"changed host key", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(e.KnownHosts, []byte(s.KnownHostsLine(otherHostKey)), 0o600)
		}, []string{"HOST KEY CHANGED", "ssh-keygen -R", fmt.Sprintf("'[127.0.0.1]:%d'", s.Port), "known_hosts:1"}, isHostKey(true)},
		{"changed pinned key", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = ""
			e.HostKey = otherHostKey
		}, []string{"HOST KEY CHANGED", "host_key pins"}, isHostKey(true)},
		{"wrong user key", func(t *testing.T, e *config.Edge) {
			e.Identity = wrongKey
		}, []string{"login as", "refused", "authorized_keys"}, func(t *testing.T, err error) {
			var ae *sftp.AuthError
			if !errors.As(err, &ae) {
				t.Errorf("not an AuthError: %T", err)
			}
		}},
		{"missing remote folder", func(t *testing.T, e *config.Edge) {
			e.PushURL = s.URL(filepath.Join(t.TempDir(), "absent"))
		}, []string{"push folder", "does not exist"}, func(*testing.T, error) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edge, inbound := sftpEdge(t, s)
			tc.setup(t, edge)
			recs := writeReady(t, edge.Spool, 5, 0)
			opt := fastOptions()
			opt.Attempts = 5 // a permanent fault must not use them
			_, logs, err := pushNow(t, edge, opt)
			if err == nil {
				t.Fatal("push succeeded")
			}
			if code := stage.ExitCode(err); code != stage.ExitFailed {
				t.Errorf("exit code %d, want %d", code, stage.ExitFailed)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
			tc.check(t, err)
			if push.Transient(err) || strings.Contains(logs.String(), "trying again") {
				t.Errorf("a permanent fault was retried:\n%s", logs)
			}
			if r, sent, _ := countRecords(t, edge.Spool); r != recs || sent != 0 {
				t.Errorf("spool moved: ready %d sent %d, want %d, 0", r, sent, recs)
			}
			if n := names(t, inbound); len(n) != 0 {
				t.Errorf("destination got %v", n)
			}
			// Refused before bundling: no batch, no number used.
			if n := names(t, filepath.Join(edge.Spool, push.OutgoingDir)); len(n) != 0 {
				t.Errorf("outgoing/ holds %v", n)
			}
		})
	}
}

func isHostKey(changed bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		var he *sftp.HostKeyError
		if !errors.As(err, &he) {
			t.Fatalf("not a HostKeyError: %T %v", err, err)
		}
		if he.Changed != changed {
			t.Errorf("Changed = %v, want %v", he.Changed, changed)
		}
	}
}

// TestPushTrustedHostKeys: each way of trusting the server works, also
// when the server offers more key types than the edge knows.
func TestPushTrustedHostKeys(t *testing.T) {
	s := sshdtest.Start(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *config.Edge)
	}{
		{"known_hosts with the ed25519 key", func(*testing.T, *config.Edge) {}},
		{"known_hosts with only the ecdsa key", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(e.KnownHosts, []byte(s.KnownHostsLine(s.ECDSAHostKey)), 0o600)
		}},
		{"hashed known_hosts (ssh-keygen -H)", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
			os.WriteFile(e.KnownHosts, []byte(s.KnownHostsLine(s.HostKey)), 0o600)
			if out, err := exec.Command("ssh-keygen", "-H", "-f", e.KnownHosts).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -H: %v %s", err, out)
			}
			if b, _ := os.ReadFile(e.KnownHosts); !strings.HasPrefix(string(b), "|1|") {
				t.Fatalf("not hashed: %s", b)
			}
		}},
		{"pinned ed25519 key, no known_hosts", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "absent")
			e.HostKey = s.HostKey
		}},
		{"pinned ecdsa key", func(t *testing.T, e *config.Edge) {
			e.KnownHosts = filepath.Join(t.TempDir(), "absent")
			e.HostKey = s.ECDSAHostKey
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edge, inbound := sftpEdge(t, s)
			tc.setup(t, edge)
			writeReady(t, edge.Spool, 3, 0)
			if _, logs, err := pushNow(t, edge, fastOptions()); err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			checkCentral(t, inbound, "ISPB-0000000001")
		})
	}
}

func TestPushInsecureIgnoreHostKeyWarns(t *testing.T) {
	s := sshdtest.Start(t)
	edge, inbound := sftpEdge(t, s)
	edge.KnownHosts = filepath.Join(t.TempDir(), "absent")
	edge.InsecureIgnoreHostKey = true
	writeReady(t, edge.Spool, 3, 0)
	_, logs, err := pushNow(t, edge, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "INSECURE") {
		t.Fatalf("no loud warning:\n%s", logs)
	}
	checkCentral(t, inbound, "ISPB-0000000001")
}

// killAt returns a Progress hook that runs kill each time the bytes
// uploaded so far pass the next of the given marks.
func killAt(kill func(), marks ...int64) func(int64) {
	var mu sync.Mutex
	var sent int64
	return func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		sent += n
		if len(marks) > 0 && sent > marks[0] {
			marks = marks[1:]
			kill()
		}
	}
}

// TestPushServerKilledMidUpload: the server dies in the middle of the tar.
// The run fails and moves nothing; the next run sends the same batch (same
// number, same bytes), and the central side ends with exactly one copy and
// no leftovers.
func TestPushServerKilledMidUpload(t *testing.T) {
	s := sshdtest.Start(t)
	edge, inbound := sftpEdge(t, s)
	recs := writeReady(t, edge.Spool, 4000, 0)

	opt := fastOptions()
	opt.Progress = killAt(s.Kill, 2<<20)
	_, logs, err := pushNow(t, edge, opt)
	if err == nil {
		t.Fatal("push succeeded although the server was killed")
	}
	if stage.ExitCode(err) != stage.ExitFailed || !push.Transient(err) {
		t.Errorf("exit %d, transient %v: %v", stage.ExitCode(err), push.Transient(err), err)
	}
	t.Logf("first run: %v", err)
	if r, sent, _ := countRecords(t, edge.Spool); r != recs || sent != 0 {
		t.Fatalf("after the failed run: ready %d sent %d, want %d, 0\n%s", r, sent, recs, logs)
	}
	for _, n := range names(t, inbound) {
		if !strings.HasPrefix(n, ".") {
			t.Fatalf("a final name %s appeared although the upload was cut", n)
		}
	}
	outTar := filepath.Join(edge.Spool, push.OutgoingDir, "ISPB-0000000001.tar")
	first, err := os.ReadFile(outTar)
	if err != nil {
		t.Fatalf("the batch is not kept in outgoing/: %v", err)
	}
	// Files that arrive meanwhile wait for the next batch.
	recs += writeReady(t, edge.Spool, 10, 100_000)

	s.Restart()
	run, logs, err := pushNow(t, edge, fastOptions())
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, logs)
	}
	got, err := os.ReadFile(filepath.Join(inbound, "ISPB-0000000001.tar"))
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the re-sent batch differs from the first attempt's (%d vs %d bytes, %v)", len(got), len(first), err)
	}
	checkCentral(t, inbound, "ISPB-0000000001", "ISPB-0000000002")
	if m, _ := batch.Read(filepath.Join(inbound, "ISPB-0000000002.manifest"), nil); m.Totals.Files != 10 {
		t.Fatalf("second batch holds %d files, want the 10 new ones", m.Totals.Files)
	}
	if r, sent, _ := countRecords(t, edge.Spool); r != 0 || sent != recs {
		t.Fatalf("ready %d sent %d, want 0, %d", r, sent, recs)
	}
	if run.Count("batches") != 2 || run.Count("batch") != 2 {
		t.Fatalf("summary batches %d batch %d", run.Count("batches"), run.Count("batch"))
	}
}

// TestPushRetriesWithinRun: the server dies twice and comes back each time:
// first during the upload that runs while bundling (delivery then sends
// the committed copy), then in the middle of that delivery; the same run
// tries again after a pause and delivers.
func TestPushRetriesWithinRun(t *testing.T) {
	s := sshdtest.Start(t)
	edge, inbound := sftpEdge(t, s)
	recs := writeReady(t, edge.Spool, 3000, 0) // a tar of about 6 MB
	opt := push.Options{Attempts: 4, Backoff: 50 * time.Millisecond}
	// The dying stream may count up to 2 MB more; the second kill then
	// falls 2 to 4 MB into the 6 MB delivery.
	opt.Progress = killAt(func() { s.Kill(); s.Restart() }, 1<<20, 5<<20)
	_, logs, err := pushNow(t, edge, opt)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	for _, w := range []string{"upload while bundling failed", "trying again"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	checkCentral(t, inbound, "ISPB-0000000001")
	if r, sent, _ := countRecords(t, edge.Spool); r != 0 || sent != recs {
		t.Fatalf("ready %d sent %d, want 0, %d", r, sent, recs)
	}
}

func TestPushConnectionRefusedGivesUp(t *testing.T) {
	s := sshdtest.Start(t)
	edge, _ := sftpEdge(t, s)
	s.Kill()
	recs := writeReady(t, edge.Spool, 3, 0)
	_, logs, err := pushNow(t, edge, push.Options{Attempts: 3, Backoff: 10 * time.Millisecond})
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "gave up after 3 of 3 tries") {
		t.Fatalf("got %v", err)
	}
	if c := strings.Count(logs.String(), "trying again"); c != 2 {
		t.Errorf("%d retries logged, want 2", c)
	}
	if r, _, _ := countRecords(t, edge.Spool); r != recs {
		t.Fatal("spool moved")
	}
}

// lostConfirm is a destination that stores everything but then loses the
// connection before the push can confirm: a crash after the upload.
type lostConfirm struct {
	push.Transport
	stats int
}

func (l *lostConfirm) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	l.stats++
	if l.stats > 2 { // the two checks before the uploads pass; the confirmation fails
		return nil, errors.New("permission denied (simulated)")
	}
	return l.Transport.Stat(ctx, name)
}

// TestPushAlreadyDelivered: a run that uploaded the batch but stopped before
// moving the spool; the next run sees the batch in place, does not send it
// again, and settles.
func TestPushAlreadyDelivered(t *testing.T) {
	edge, outbox := localEdge(t)
	recs := writeReady(t, edge.Spool, 20, 0)
	opt := fastOptions()
	opt.Dial = func(context.Context) (push.Transport, error) {
		d, err := local.Open(outbox)
		return &lostConfirm{Transport: d}, err
	}
	if _, _, err := pushNow(t, edge, opt); err == nil {
		t.Fatal("no error")
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	before, _ := os.Stat(filepath.Join(outbox, "ISPB-0000000001.tar"))
	if r, _, _ := countRecords(t, edge.Spool); r != recs {
		t.Fatal("spool moved before confirmation")
	}
	_, logs, err := pushNow(t, edge, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(logs.String(), "not sent again") != 2 {
		t.Errorf("expected both files recognised as delivered:\n%s", logs)
	}
	after, _ := os.Stat(filepath.Join(outbox, "ISPB-0000000001.tar"))
	if !os.SameFile(before, after) {
		t.Error("the delivered tar was replaced")
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	if r, sent, _ := countRecords(t, edge.Spool); r != 0 || sent != recs {
		t.Fatalf("ready %d sent %d", r, sent)
	}
}

func TestPushRefusesOtherContentUnderItsNumber(t *testing.T) {
	edge, outbox := localEdge(t)
	writeReady(t, edge.Spool, 5, 0)
	os.MkdirAll(outbox, 0o755)
	os.WriteFile(filepath.Join(outbox, "ISPB-0000000001.tar"), []byte("someone else's batch"), 0o644)
	_, _, err := pushNow(t, edge, fastOptions())
	if err == nil || !strings.Contains(err.Error(), "used for other content") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(outbox, "ISPB-0000000001.tar")); string(b) != "someone else's batch" {
		t.Fatal("overwritten")
	}
}

// TestPushSetsAsideUnreadable: a spool file that does not read back goes to
// bad/ with its reason, the rest is pushed, and the run exits 3.
func TestPushSetsAsideUnreadable(t *testing.T) {
	edge, outbox := localEdge(t)
	recs := writeReady(t, edge.Spool, 10, 0)
	ready := spool.Layout{Root: edge.Spool}.Ready()
	for name, content := range map[string]string{
		"nas1_20260630T000000Z_torn.sess":   spool.Header + "\nstatus_type=Stop\tsession_id=x",
		"nas1_20260630T000000Z_badcrc.sess": spool.Header + "\nstatus_type=Stop\tcrc=00000000\n",
		"nas1_20260630T000000Z_empty.sess":  "",
	} {
		os.WriteFile(filepath.Join(ready, name), []byte(content), 0o644)
	}
	run, logs, err := pushNow(t, edge, fastOptions())
	var att *stage.AttentionError
	if !errors.As(err, &att) || stage.ExitCode(err) != stage.ExitAttention {
		t.Fatalf("got %v, want an AttentionError (exit 3)", err)
	}
	if run.Count("bad") != 3 || !strings.Contains(logs.String(), "set aside") {
		t.Fatalf("bad %d\n%s", run.Count("bad"), logs)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	bad := names(t, filepath.Join(edge.Spool, push.BadDir))
	if len(bad) != 6 {
		t.Fatalf("bad/ holds %v, want 3 files and 3 reasons", bad)
	}
	reason, _ := os.ReadFile(filepath.Join(edge.Spool, push.BadDir, "nas1_20260630T000000Z_torn.sess.reason"))
	if !strings.Contains(string(reason), "cut short") {
		t.Errorf("reason %q", reason)
	}
	if r, sent, b := countRecords(t, edge.Spool); r != 0 || sent != recs || b != 3 {
		t.Fatalf("ready %d sent %d bad %d", r, sent, b)
	}
}

// TestPushReportsForeignEntries: a symlink, a folder and a file that is
// not a spool file in ready/ are reported (a warning naming each, a
// "foreign" count, exit 3) and left where they are, while the good session
// is pushed; a writer's temporary file (leading ".") is left silently.
func TestPushReportsForeignEntries(t *testing.T) {
	edge, outbox := localEdge(t)
	recs := writeReady(t, edge.Spool, 1, 0)
	ready := spool.Layout{Root: edge.Spool}.Ready()
	elsewhere := filepath.Join(t.TempDir(), "nas9_20260630T000000Z_elsewhere.sess")
	writeFile(t, elsewhere, spool.Header+"\n")
	link := "nas9_20260630T000000Z_linked.sess"
	if err := os.Symlink(elsewhere, filepath.Join(ready, link)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ready, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ready, "old", "x.sess"), "kept")
	writeFile(t, filepath.Join(ready, "notes.txt"), "a person's notes")
	tmp := ".nas1_20260630T000000Z_writing.sess.tmp"
	writeFile(t, filepath.Join(ready, tmp), "being written")
	foreign := []string{link, "notes.txt", "old"}

	run, logs, err := pushNow(t, edge, fastOptions())
	var att *stage.AttentionError
	if !errors.As(err, &att) || stage.ExitCode(err) != stage.ExitAttention {
		t.Fatalf("got %v, want an AttentionError (exit 3)\n%s", err, logs)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	if run.Count("files") != 1 || run.Count("records") != int64(recs) || run.Count("foreign") != 3 || run.Count("bad") != 0 {
		t.Fatalf("files %d records %d foreign %d bad %d, want 1, %d, 3, 0",
			run.Count("files"), run.Count("records"), run.Count("foreign"), run.Count("bad"), recs)
	}
	checkForeignReport(t, logs.String(), 3, foreign...)
	if strings.Contains(logs.String(), tmp) {
		t.Errorf("a writer's temporary file was reported:\n%s", logs)
	}
	// Left in place, untouched.
	if got, want := names(t, ready), append([]string{tmp}, foreign...); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ready/ holds %v, want %v", got, want)
	}
	if target, err := os.Readlink(filepath.Join(ready, link)); err != nil || target != elsewhere {
		t.Errorf("symlink: %q, %v", target, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ready, "old", "x.sess")); string(b) != "kept" {
		t.Errorf("old/x.sess holds %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ready, "notes.txt")); string(b) != "a person's notes" {
		t.Errorf("notes.txt holds %q", b)
	}
	if n := names(t, filepath.Join(edge.Spool, push.BadDir)); len(n) != 0 {
		t.Errorf("bad/ holds %v", n)
	}

	// Still there next run, still reported, though nothing is pushed; many
	// make one line with the count and the first few names, not one each.
	for i := 0; i < 40; i++ {
		writeFile(t, filepath.Join(ready, fmt.Sprintf("stray-%02d.txt", i)), "x")
	}
	run, logs, err = pushNow(t, edge, fastOptions())
	if stage.ExitCode(err) != stage.ExitAttention || run.Count("foreign") != 43 || run.Count("batches") != 0 {
		t.Fatalf("second run: exit %d (%v), foreign %d, batches %d", stage.ExitCode(err), err, run.Count("foreign"), run.Count("batches"))
	}
	checkForeignReport(t, logs.String(), 43, link, "notes.txt", "old")
	if strings.Contains(logs.String(), "stray-39.txt") {
		t.Errorf("the log names every foreign entry, not the first few:\n%s", logs)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
}

// checkForeignReport says the log has one warning about n entries in
// ready/ that are not spool files, naming each of want.
func checkForeignReport(t *testing.T, logs string, n int, want ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "not spool files") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d warnings about foreign entries, want 1:\n%s", len(lines), logs)
	}
	if !strings.Contains(lines[0], fmt.Sprintf("count=%d", n)) {
		t.Errorf("warning lacks count=%d: %s", n, lines[0])
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("warning does not name %s: %s", w, lines[0])
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPushCrashBeforeCommit: a build cut short leaves temporary files in
// outgoing/; the next run removes them and uses the same number (nothing
// was ever sent under it).
func TestPushCrashBeforeCommit(t *testing.T) {
	edge, outbox := localEdge(t)
	writeReady(t, edge.Spool, 4, 0)
	out := filepath.Join(edge.Spool, push.OutgoingDir)
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, ".ISPB-0000000001.tar.tmp-123"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(out, "ISPB-0000000001.tar"), []byte("no manifest"), 0o644)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	if n := names(t, out); len(n) != 0 {
		t.Fatalf("outgoing holds %v", n)
	}
}

// TestPushSequenceSurvivesLostState: with the state file gone, numbers
// carry on after the batches in sent/.
func TestPushSequenceSurvivesLostState(t *testing.T) {
	edge, outbox := localEdge(t)
	writeReady(t, edge.Spool, 2, 0)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(edge.Spool, push.StateDir, "ISPB.seq"))
	writeReady(t, edge.Spool, 2, 50)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001", "ISPB-0000000002")
}

func TestPushSweepsStaleSessions(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		listener bool
		want     int64
	}{{"no listener: push sweeps", false, 1}, {"listener running: it sweeps itself", true, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			edge, _ := localEdge(t)
			st, err := spool.OpenStore(spool.Layout{Root: edge.Spool})
			if err != nil {
				t.Fatal(err)
			}
			recs := sessionRecords(1, now.Add(-24*time.Hour))
			if err := st.Add(recs[:1]); err != nil { // a Start, never stopped
				t.Fatal(err)
			}
			if tc.listener {
				lk, err := lock.Acquire(context.Background(), edge.Spool, ".open.lock", "roamcollect listen", false, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer lk.Release()
			}
			opt := fastOptions()
			opt.Now = func() time.Time { return now }
			run, _, err := pushNow(t, edge, opt)
			if err != nil {
				t.Fatal(err)
			}
			if run.Count("closed") != tc.want || run.Count("files") != tc.want {
				t.Fatalf("closed %d, pushed %d files; want %d", run.Count("closed"), run.Count("files"), tc.want)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	edge, _ := localEdge(t)
	writeReady(t, edge.Spool, 3, 0)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	writeReady(t, edge.Spool, 3, 10)
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	sent := spool.Layout{Root: edge.Spool}.Sent()
	old := time.Now().Add(-40 * 24 * time.Hour)
	os.Chtimes(filepath.Join(sent, "ISPB-0000000001", "ISPB-0000000001.manifest"), old, old)
	// A batch folder without its manifest is not a settled batch: it stays.
	os.MkdirAll(filepath.Join(sent, "ISPB-0000000003"), 0o755)

	run, _ := newRun(t)
	if err := push.Prune(run, edge, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := names(t, sent); strings.Join(got, " ") != "ISPB-0000000002 ISPB-0000000003" {
		t.Fatalf("sent/ holds %v", got)
	}
	if run.Count("pruned") != 1 || run.Count("files") != 3 {
		t.Fatalf("pruned %d files %d", run.Count("pruned"), run.Count("files"))
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{fmt.Errorf("upload: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("ssh: handshake failed: %w", io.EOF), true},
		{fmt.Errorf("x: %w", sftp.ErrConnectionLost), true},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true},
		{&sftp.HostKeyError{Addr: "h:22"}, false},
		{&sftp.AuthError{Err: io.EOF}, false},
		{fmt.Errorf("open: %w", os.ErrPermission), false},
		{fmt.Errorf("write: %w", syscall.ENOSPC), false},
		{context.Canceled, false},
		{errors.New("sftp: \"Failure\" (SSH_FX_FAILURE)"), false},
	} {
		if got := push.Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// failAt is a destination whose n-th call (Stat or Put) fails.
type failAt struct {
	push.Transport
	n, calls int
}

func (f *failAt) fail() error {
	f.calls++
	if f.calls == f.n {
		return fmt.Errorf("injected fault at call %d: %w", f.n, os.ErrPermission)
	}
	return nil
}

func (f *failAt) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Transport.Stat(ctx, name)
}

func (f *failAt) Put(ctx context.Context, local, name string, progress func(int64)) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Transport.Put(ctx, local, name, progress)
}

// TestPushFaultAtEveryStep: a fault at any step of a delivery leaves ready/
// whole; the next run delivers the same bytes once, and every record ends
// in sent/.
func TestPushFaultAtEveryStep(t *testing.T) {
	// A delivery is: stat tar, put tar, stat manifest, put manifest, stat
	// tar, stat manifest (the confirmation).
	for n := 1; n <= 6; n++ {
		t.Run(fmt.Sprint("call ", n), func(t *testing.T) {
			edge, outbox := localEdge(t)
			recs := writeReady(t, edge.Spool, 30, 0)
			opt := fastOptions()
			opt.Dial = func(context.Context) (push.Transport, error) {
				d, err := local.Open(outbox)
				return &failAt{Transport: d, n: n}, err
			}
			if _, _, err := pushNow(t, edge, opt); err == nil || !strings.Contains(err.Error(), "injected fault") {
				t.Fatalf("got %v", err)
			}
			if r, sent, _ := countRecords(t, edge.Spool); r != recs || sent != 0 {
				t.Fatalf("after the fault: ready %d sent %d, want %d, 0", r, sent, recs)
			}
			// Never a manifest without its whole tar.
			if _, err := os.Stat(filepath.Join(outbox, "ISPB-0000000001.manifest")); err == nil {
				if _, err := batch.Read(filepath.Join(outbox, "ISPB-0000000001.manifest"), nil); err != nil {
					t.Fatalf("a manifest in place with a bad batch: %v", err)
				}
			}
			first, err := os.ReadFile(filepath.Join(edge.Spool, push.OutgoingDir, "ISPB-0000000001.tar"))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
				t.Fatal(err)
			}
			checkCentral(t, outbox, "ISPB-0000000001")
			if got, _ := os.ReadFile(filepath.Join(outbox, "ISPB-0000000001.tar")); !bytes.Equal(got, first) {
				t.Fatal("the delivered tar differs from the batch built first")
			}
			if r, sent, _ := countRecords(t, edge.Spool); r != 0 || sent != recs {
				t.Fatalf("ready %d sent %d, want 0, %d", r, sent, recs)
			}
		})
	}
}

// TestPushWithDamagedOpenFile: a CRC-damaged file in spool/open/ used to
// make push fail in its sweep, so the good sessions in ready/ were not
// sent either. Now the file is set aside in bad/ with its reason, the
// sessions in ready/ and the swept one are pushed, and the run exits 3.
func TestPushWithDamagedOpenFile(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	edge, outbox := localEdge(t)
	writeReady(t, edge.Spool, 3, 0)
	l := spool.Layout{Root: edge.Spool}
	st, err := spool.OpenStore(l)
	if err != nil {
		t.Fatal(err)
	}
	stale := sessionRecords(7, now.Add(-24*time.Hour))
	if err := st.Add(stale[:1]); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(l.Open(), "nas9_20260630T000000Z_x.sess")
	os.WriteFile(damaged, []byte(spool.Header+"\nstatus_type=Stop\tcrc=00000000\n"), 0o644)
	opt := fastOptions()
	opt.Now = func() time.Time { return now }
	run, logs, err := pushNow(t, edge, opt)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(err.Error(), "nas9_20260630T000000Z_x.sess") {
		t.Fatalf("got %v, want exit 3 naming the file\n%s", err, logs)
	}
	if run.Count("files") != 4 || run.Count("closed") != 1 || run.Count("set_aside") != 1 {
		t.Errorf("files %d closed %d set_aside %d\n%s", run.Count("files"), run.Count("closed"), run.Count("set_aside"), logs)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	reason, err := os.ReadFile(filepath.Join(l.Bad(), filepath.Base(damaged)+spool.ReasonExt))
	if err != nil || !strings.Contains(string(reason), ":2: field crc") {
		t.Errorf("reason %q, %v", reason, err)
	}
}
