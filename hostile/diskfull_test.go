package hostile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sessionsDigest is the history as a digest: every session with its
// figures, in key order, without the raw entry ids (which depend on how
// the records were batched) — equal digests are the same sessions, each
// exactly once.
func (e *env) sessionsDigest() (string, int) {
	e.t.Helper()
	rows, err := e.db().Query(`SELECT session_key, period, local_isp, home_isp, user_name, nas_id, session_id,
		start_utc, stop_utc, stop_local, duration, input_octets, output_octets, terminate_cause, estimated
		FROM sessions ORDER BY session_key`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	h, n := sha256.New(), 0
	for rows.Next() {
		var v [15]any
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintln(h, v[:]...)
		n++
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// central runs the central stages to their end.
func (e *env) central() {
	e.t.Helper()
	e.must(ok03, "roamcollect", "push")
	e.must(ok03, "roamload")
	e.must(ok03, "roamclean")
}

// TestDiskFull: the file system under the spool, the database, the
// archive and the reports fills up. The stage fails (exit 1) naming what
// it could not write, leaves its input where it was, and, once space is
// freed, the re-run completes: the same sessions as a run that never
// failed, each once.
func TestDiskFull(t *testing.T) {
	// What the run that never fails makes of the same traffic.
	base := newEnv(t)
	base.detail("detail", 21, 400)
	base.must([]int{0}, "roamcollect", "import", base.path("detail"))
	base.central()
	base.must(ok03, "roamreport", "--period", "2026-06")
	base.must([]int{0}, "roamreport", "publish", "--period", "2026-06")
	want, nsess := base.sessionsDigest()
	wantRecords := base.count("SELECT count(*) FROM raw")
	t.Logf("baseline: %d sessions, %d raw records", nsess, wantRecords)

	cases := []struct {
		name  string
		mount string // folder that gets a small tmpfs
		size  string
		// run is the stage that meets the full disk (after what comes
		// before it has run on a roomy disk).
		before func(e *env)
		run    []string
		err    string // pattern of its error
		leave  int64  // with size "0": bytes left free
	}{
		{"spool, under import", "spool", "256k", func(e *env) {},
			[]string{"roamcollect", "import", "detail"}, `no space left on device`, 0},
		{"spool, under push (the batch is built in the spool)", "spool", "0", func(e *env) {
			e.must([]int{0}, "roamcollect", "import", e.path("detail"))
		}, []string{"roamcollect", "push"}, `no space left on device`, 0},
		{"central database, under roamload", "central/db", "0", func(e *env) {
			e.must([]int{0}, "roamcollect", "import", e.path("detail"))
			e.must([]int{0}, "roamcollect", "push")
			e.must([]int{0}, "roamclean") // the database, empty, with its schema and WAL
		}, []string{"roamload"}, `roam\.db.*(disk is full|no space left on device)`, 160 << 10},
		{"archive, under roamload", "central/archive", "64k", func(e *env) {
			e.must([]int{0}, "roamcollect", "import", e.path("detail"))
			e.must([]int{0}, "roamcollect", "push")
		}, []string{"roamload"}, `ISPB-0000000001.*no space left on device`, 0},
		{"reports, under roamreport", "central/reports", "64k", func(e *env) {
			e.must([]int{0}, "roamcollect", "import", e.path("detail"))
			e.central()
		}, []string{"roamreport", "--period", "2026-06"}, `no space left on device`, 0},
		{"publish folder, under publish", "publish", "64k", func(e *env) {
			e.must([]int{0}, "roamcollect", "import", e.path("detail"))
			e.central()
			e.must(ok03, "roamreport", "--period", "2026-06")
		}, []string{"roamreport", "publish", "--period", "2026-06"}, `no space left on device`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.write("detail", string(mustRead(t, base.path("detail"))))
			size := tc.size
			if size == "0" {
				// Sized after what comes before it: full just then.
				mountTmpfs(t, e.path(tc.mount), "64m")
				tc.before(e)
				used := e.fill(tc.mount, tc.leave)
				t.Logf("filled %s: %d bytes", tc.mount, used)
			} else {
				mountTmpfs(t, e.path(tc.mount), size)
				tc.before(e)
			}
			args := tc.run
			if args[0] == "roamcollect" && args[1] == "import" {
				args = []string{"roamcollect", "import", e.path("detail")}
			}
			code, out := e.run(args[0], args[1:]...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			wantMatch(t, "the error", out, tc.err)
			if m := regexp.MustCompile(`(?m)^` + args[0] + `: .*$`).FindString(out); m != "" {
				t.Logf("error: %.300s", strings.ReplaceAll(m, e.dir+"/", ""))
			}
			if m := regexp.MustCompile(`(?m)^.*level=(ERROR|WARN).*no space left on device.*$`).FindString(out); m != "" {
				t.Logf("logged: %.300s", strings.ReplaceAll(m[strings.Index(m, "msg="):], e.dir+"/", ""))
			}
			// Space freed: the stage and everything after it complete.
			os.Remove(e.path(tc.mount + "/filler"))
			remount(t, e.path(tc.mount), "64m")
			code, out = e.run(args[0], args[1:]...)
			if code != 0 && code != 3 {
				t.Fatalf("re-run: exit %d\n%s", code, out)
			}
			e.must(ok03, "roamcollect", "import", e.path("detail"))
			e.central()
			e.must(ok03, "roamreport", "--period", "2026-06")
			e.must([]int{0}, "roamreport", "verify", "--period", "2026-06")
			e.must([]int{0}, "roamreport", "publish", "--period", "2026-06")
			diffTrees(t, "published", e.path("publish"), base.path("publish"))
			if got, n := e.sessionsDigest(); got != want {
				t.Errorf("sessions differ from the run that never failed (%d sessions, want %d)", n, nsess)
			}
			if n := e.count("SELECT count(*) FROM batches"); n != 1 {
				t.Errorf("%d batches loaded, want 1", n)
			}
			// The central side has every record once: nothing re-sent
			// in a second batch, nothing loaded twice.
			if n := e.count("SELECT count(*) FROM raw"); n != wantRecords {
				t.Errorf("%d raw records, want %d", n, wantRecords)
			}
		})
	}
}

// fill writes a file named filler into a folder until its file system is
// full but for leave bytes, and returns how much it wrote.
func (e *env) fill(dir string, leave int64) int64 {
	e.t.Helper()
	f, err := os.Create(e.path(dir + "/filler"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if err != nil {
			if leave > 0 {
				n -= leave
				if err := f.Truncate(n); err != nil {
					e.t.Fatal(err)
				}
			}
			return n
		}
	}
}

// TestDiskFullListener: the spool's file system fills up under a running
// listener. What the journal (allocated ahead) holds is answered; then the
// checkpoint cannot write the session files, the error names the file,
// requests are no longer answered (the NAS keeps them and retransmits),
// and once space is freed every request is answered and written once:
// the same sessions as a listener that never ran short.
func TestDiskFullListener(t *testing.T) {
	const wave = 150
	base := newEnv(t)
	for _, first := range []int{0, wave} {
		base.nas = newNASClientFrom(t, base.listen, first, wave)
		base.listenAll(t, 0, nil)
	}
	base.central()
	want, nsess := base.sessionsDigest()

	e := newEnv(t)
	mountTmpfs(t, e.path("spool"), "64m")
	l := e.startListener()
	e.fill("spool", 0)
	first := newNASClientFrom(t, e.listen, 0, wave)
	first.run(make(chan struct{}))
	t.Logf("full disk: the first %d requests answered from the journal's room", first.done())
	// The checkpoint (every second) cannot write the session files.
	if !waitFor(5*time.Second, func() bool { return strings.Contains(l.out.String(), "no space left on device") }) {
		t.Fatalf("no error logged on a full disk\n%s", l.out)
	}
	second := newNASClientFrom(t, e.listen, wave, wave)
	stop := make(chan struct{})
	go func() { time.Sleep(1500 * time.Millisecond); close(stop) }()
	second.run(stop)
	if n := second.done(); n == second.total() {
		t.Fatalf("all %d requests answered on a full disk\n%s", n, l.out)
	} else {
		t.Logf("then %d of %d answered", n, second.total())
	}
	wantMatch(t, "the listener's log", l.out.String(), `spool/\S+: no space left on device`)
	if m := regexp.MustCompile(`(?m)^.*no space left on device.*$`).FindString(l.out.String()); m != "" {
		t.Logf("logged: %.300s", strings.ReplaceAll(m[strings.Index(m, "msg="):], e.dir+"/", ""))
	}
	os.Remove(e.path("spool/filler"))
	second.run(make(chan struct{}))
	if n := second.done(); n != second.total() {
		t.Fatalf("after freeing space: %d of %d answered\n%s", n, second.total(), l.out)
	}
	code := l.stop(t)
	t.Logf("listener exit %d: %s", code, regexp.MustCompile(`summary: [^"]*`).FindString(l.out.String()))
	if code != 0 {
		t.Errorf("listener exit %d", code)
	}
	e.central()
	if got, n := e.sessionsDigest(); got != want {
		t.Errorf("sessions differ from a listener that never ran short: %d, want %d", n, nsess)
	}
}
