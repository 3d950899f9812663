package hostile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"roamsettle/pkg/spool"
)

// spoolRecords reads every session file under spool/open and spool/ready
// and returns how many records each session id has.
func (e *env) spoolRecords() (map[string]int, int) {
	e.t.Helper()
	got, total := map[string]int{}, 0
	for _, dir := range []string{"spool/open", "spool/ready"} {
		files, _ := filepath.Glob(e.path(dir + "/*.sess"))
		for _, f := range files {
			recs, err := spool.ReadFile(f)
			if err != nil {
				e.t.Fatalf("%s: %v", f, err)
			}
			for _, r := range recs {
				got[r.SessionID+" "+string(r.StatusType)]++
				total++
			}
		}
	}
	return got, total
}

// detailRecords is the number of records in a detail file (each ends in
// a blank line).
func detailRecords(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n\n")
}

// TestDetailFiles: roamcollect import meets a file of binary garbage and
// a record with a 10 MB line, each beside good records. The bad input is
// named by file and line, the run exits 3, and every good record is in
// the spool exactly once; a re-run adds nothing.
func TestDetailFiles(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env) (bad string, good int)
		log   string
	}{
		{"binary garbage", func(t *testing.T, e *env) (string, int) {
			r := rand.New(rand.NewPCG(7, 7))
			b := make([]byte, 256<<10)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			e.write("garbage", string(b))
			return "garbage", 0
		}, `garbage:\d+: `},
		{"a 10 MB line between two good records", func(t *testing.T, e *env) (string, int) {
			e.detail("src", 9, 1)
			recs := strings.SplitAfter(string(mustRead(t, e.path("src"))), "\n\n")
			long := "Mon Jun  1 03:00:00 2026\n\tAcct-Status-Type = Stop\n\tUser-Name = \"" + strings.Repeat("x", 10<<20) + "@aimnet.com\"\n\n"
			e.write("longline", recs[0]+long+recs[1])
			return "longline", 2
		}, `longline:18: (line|record) longer than \d+ bytes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.detail("good", 4, 40)
			want := detailRecords(t, e.path("good"))
			bad, inBad := tc.setup(t, e)
			code, out := e.run("roamcollect", "import", e.path(bad), e.path("good"))
			if code != 3 {
				t.Fatalf("exit %d, want 3\n%s", code, out)
			}
			wantMatch(t, "import's log", out, regexp.QuoteMeta(e.path(bad))+tc.log[len(bad):])
			if m := regexp.MustCompile(`err="[^"]*` + regexp.QuoteMeta(bad) + `[^"]*"`).FindString(out); m != "" {
				t.Logf("logged: %.200s", m)
			}
			// The spool is what the good records alone make (the sample
			// traffic has retransmissions of its own: same record twice).
			base := newEnv(t)
			base.write("good", string(mustRead(t, e.path("good"))))
			base.write("only", string(goodOf(t, e.path(bad))))
			base.must([]int{0}, "roamcollect", "import", base.path("only"), base.path("good"))
			wantRecs, wantTotal := base.spoolRecords()
			got, total := e.spoolRecords()
			if total != want+inBad || total != wantTotal {
				t.Errorf("spool holds %d records, want the %d good ones", total, want+inBad)
			}
			for k, n := range wantRecs {
				if got[k] != n {
					t.Errorf("%s: %d records, want %d", k, got[k], n)
				}
			}
			code, out = e.run("roamcollect", "import", e.path(bad), e.path("good"))
			if code != 0 && code != 3 {
				t.Errorf("re-run: exit %d\n%s", code, out)
			}
			wantMatch(t, "the re-run's summary", out, `summary: .* imported 0,`)
			if _, again := e.spoolRecords(); again != total {
				t.Errorf("re-run changed the spool: %d records, was %d", again, total)
			}
		})
	}
}

// goodOf is a hostile detail file without its bad record: for the
// 10 MB line, the two good records around it; for garbage, nothing.
func goodOf(t *testing.T, path string) []byte {
	var out []string
	for _, r := range strings.SplitAfter(string(mustRead(t, path)), "\n\n") {
		if strings.Contains(r, "Acct-Status-Type") && len(r) < 64<<10 {
			out = append(out, r)
		}
	}
	return []byte(strings.Join(out, ""))
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// treeDigest is a digest of every file (name and bytes) under the
// installation's data folders, lock files aside: what "nothing changed"
// means.
func (e *env) treeDigest() string {
	h := sha256.New()
	for _, root := range []string{"central", "spool", "publish"} {
		filepath.WalkDir(e.path(root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, ".lock") {
				return nil
			}
			fmt.Fprintf(h, "%s\n", p)
			b, _ := os.ReadFile(p)
			h.Write(b)
			return nil
		})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestConfig: a broken configuration stops every command before it does
// anything (exit 2), naming the file, line and field; nothing in the
// spool, the inbound folder, the database or the reports changes; with
// the configuration mended the waiting work is done exactly once.
func TestConfig(t *testing.T) {
	e := newEnv(t)
	e.edgeToInbound(1, 60)
	e.must(ok03, "roamload")
	e.must(ok03, "roamclean")
	e.must(ok03, "roamreport", "--period", "2026-06")
	e.edgeToInbound(3, 60) // batch 2 waits in inbound/
	e.detail("detail-5", 5, 20)
	sed := func(file, old, new string) func() {
		return func() {
			b := mustRead(t, e.path(file))
			if !strings.Contains(string(b), old) {
				t.Fatalf("%s has no %q", file, old)
			}
			e.write(file, strings.Replace(string(b), old, new, 1))
		}
	}
	appendTo := func(file, text string) func() {
		return func() { e.write(file, string(mustRead(t, e.path(file)))+text) }
	}
	cases := []struct {
		name   string
		break_ func()
		cmd    []string
		err    string
	}{
		{"realm of two partners", appendTo("partners.csv", "ISPD,Dup,USA,AIMNET.com,UTC\n"),
			[]string{"roamload"}, `partners\.csv:5: realms: realm "aimnet\.com" already belongs to ISPA \(line 2\)`},
		{"realm twice in one partner", sed("partners.csv", "aimnet.com,", "aimnet.com AimNet.com,"),
			[]string{"roamclean"}, `partners\.csv:2: realms: realm "aimnet\.com" already belongs to ISPA`},
		{"partner id twice", appendTo("partners.csv", "ISPA,Other,USA,other.com,UTC\n"),
			[]string{"roamreport", "--period", "2026-06"}, `partners\.csv:5: id: duplicate partner id "ISPA" \(also on line 2\)`},
		{"negative rate", sed("tariffs.csv", "0.0250", "-0.0250"),
			[]string{"roamreport", "--period", "2026-06"}, `tariffs\.csv:3: provider_rate: "-0\.0250" is not a non-negative decimal number`},
		{"negative increment", sed("tariffs.csv", ",60,60", ",-60,60"),
			[]string{"roamclean"}, `tariffs\.csv:2: increment: "-60"`},
		{"two tariff rows tie", appendTo("tariffs.csv", "*,*,2026-01-01,*,*,0.0400,0.0500,60,60\n"),
			[]string{"roamreport", "--period", "2026-06"}, `tariffs\.csv:4: tariff rows on lines 2 and 4 tie`},
		{"negative fee", sed("roam.toml", `fee_per_minute  = "0.0020"`, `fee_per_minute  = "-0.0020"`),
			[]string{"roamreport", "--period", "2026-06"}, `roam\.toml:7: settlement\.fee_per_minute: "-0\.0020" is not a non-negative decimal number`},
		{"key twice", sed("roam.toml", "currency = \"USD\"\n", "currency = \"USD\"\ncurrency = \"EUR\"\n"),
			[]string{"roamload"}, `roam\.toml:4: settlement\.currency: defined twice \(first on line 3\)`},
		{"NAS address twice", appendTo("roam.toml", "[[edge.nas]]\nname = \"nasX\"\naddress = \"127.0.0.1\"\nsecret = \"x\"\n"),
			[]string{"roamcollect", "listen"}, `roam\.toml:\d+: edge\.nas\[\d+\]\.address: address 127\.0\.0\.1 used twice \(also edge\.nas\[0\]\)`},
		{"NAS name twice", appendTo("roam.toml", "[[edge.nas]]\nname = \"nas1\"\naddress = \"127.0.0.200\"\nsecret = \"x\"\n"),
			[]string{"roamcollect", "import", e.path("detail-5")}, `roam\.toml:\d+: edge\.nas\[\d+\]\.name: NAS name "nas1" used twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string][]byte{}
			for _, f := range []string{"roam.toml", "partners.csv", "tariffs.csv"} {
				saved[f] = mustRead(t, e.path(f))
			}
			defer func() {
				for f, b := range saved {
					e.write(f, string(b))
				}
			}()
			before := e.treeDigest()
			tc.break_()
			code, out := e.run(tc.cmd[0], tc.cmd[1:]...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, out)
			}
			wantMatch(t, "the error", out, regexp.QuoteMeta(e.dir+"/")+tc.err)
			if m := regexp.MustCompile(`(?m)^` + tc.cmd[0] + `: .*$`).FindString(out); m != "" {
				t.Logf("error: %s", strings.ReplaceAll(m, e.dir+"/", ""))
			}
			if after := e.treeDigest(); after != before {
				t.Errorf("the data folders changed")
			}
		})
	}
	// Mended: the waiting batch loads once, the detail file imports.
	e.must([]int{0}, "roamcollect", "import", e.path("detail-5"))
	e.must([]int{0}, "roamload")
	e.must(ok03, "roamclean")
	want := manifestRecords(t, e.path("central/archive/"+b1+".manifest")) + manifestRecords(t, e.path("central/archive/"+b2+".manifest"))
	e.checkLoaded(2, want)
}

// TestEdgeFiles: what the edge cannot read. A detail file without read
// permission beside a good one (import: exit 3 naming it, the good one
// imported; once readable, a re-run imports it, nothing twice); a spool
// file in ready/ that push cannot read, or whose line was altered (moved
// to bad/ with a reason naming it, the rest pushed, exit 3; mended and
// moved back, the next push sends it, once); a damaged file in open/
// (sweep sets it aside naming file, line and field).
func TestEdgeFiles(t *testing.T) {
	t.Run("unreadable detail file", func(t *testing.T) {
		e := newEnv(t)
		e.detail("good", 4, 30)
		e.detail("locked", 5, 30)
		os.Chmod(e.path("locked"), 0)
		code, out := e.runNoDAC("roamcollect", "import", e.path("locked"), e.path("good"))
		if code != 3 {
			t.Fatalf("exit %d, want 3\n%s", code, out)
		}
		wantMatch(t, "the error", out, `open \S*locked: permission denied`)
		wantMatch(t, "the count", out, `unreadable 1`)
		_, n := e.spoolRecords()
		if n != detailRecords(t, e.path("good")) {
			t.Errorf("spool holds %d records, want the good file's %d", n, detailRecords(t, e.path("good")))
		}
		os.Chmod(e.path("locked"), 0o644)
		e.must([]int{0}, "roamcollect", "import", e.path("locked"), e.path("good"))
		_, n = e.spoolRecords()
		if want := detailRecords(t, e.path("good")) + detailRecords(t, e.path("locked")); n != want {
			t.Errorf("spool holds %d records, want %d", n, want)
		}
	})
	for _, damage := range []string{"unreadable", "altered line"} {
		t.Run("spool file in ready/, "+damage, func(t *testing.T) {
			e := newEnv(t)
			e.detail("good", 4, 30)
			e.must([]int{0}, "roamcollect", "import", e.path("good"))
			e.must([]int{0}, "roamcollect", "sweep")
			ready := e.files("spool/ready")
			victim := e.path("spool/ready/" + ready[len(ready)/2])
			orig := mustRead(t, victim)
			if damage == "unreadable" {
				os.Chmod(victim, 0)
			} else {
				b := append([]byte(nil), orig...)
				b[strings.Index(string(b), "session_id=")+len("session_id=")] ^= 1
				os.WriteFile(victim, b, 0o644)
			}
			code, out := e.runNoDAC("roamcollect", "push")
			if code != 3 {
				t.Fatalf("exit %d, want 3\n%s", code, out)
			}
			reason := string(mustRead(t, e.path("spool/bad/"+filepath.Base(victim)+".reason")))
			want := `permission denied`
			if damage != "unreadable" {
				want = regexp.QuoteMeta(filepath.Base(victim)) + `:2: field crc: checksum mismatch`
			}
			wantMatch(t, "the reason", reason, want)
			t.Logf("reason: %s", strings.TrimSpace(strings.ReplaceAll(reason, e.dir+"/", "")))
			if n := manifestRecords(t, e.path("central/inbound/"+b1+".manifest")); n == 0 {
				t.Error("nothing pushed")
			}
			// Mended and moved back by a person: the next push sends it.
			os.WriteFile(e.path("spool/ready/"+filepath.Base(victim)), orig, 0o644)
			os.Remove(e.path("spool/bad/" + filepath.Base(victim)))
			os.Remove(e.path("spool/bad/" + filepath.Base(victim) + ".reason"))
			e.must([]int{0}, "roamcollect", "push")
			e.must([]int{0}, "roamload")
			var want2 int64
			for _, b := range []string{b1, b2} {
				want2 += manifestRecords(t, e.path("central/archive/"+b+".manifest"))
			}
			e.checkLoaded(2, want2)
			if want2 != int64(detailRecords(t, e.path("good"))) {
				t.Errorf("loaded %d records, the detail file has %d", want2, detailRecords(t, e.path("good")))
			}
		})
	}
	for _, dir := range []string{"ready", "open"} {
		t.Run("named pipe in "+dir+"/", func(t *testing.T) {
			e := newEnv(t)
			e.detail("good", 4, 30)
			e.must([]int{0}, "roamcollect", "import", e.path("good"))
			fifo := e.path("spool/" + dir + "/nas1_20260601T000000Z_FIFO.sess")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out := e.run("roamcollect", "push") // push sweeps (and opens the spool) first
			if code != 3 {
				t.Fatalf("exit %d, want 3\n%s", code, out)
			}
			wantMatch(t, "push's log", out, regexp.QuoteMeta(filepath.Base(fifo)))
			if m := regexp.MustCompile(`(?m)^roamcollect: .*$`).FindString(out); m != "" {
				t.Logf("error: %s", strings.ReplaceAll(m, e.dir+"/", ""))
			}
			if _, err := os.Lstat(fifo); err != nil {
				t.Errorf("the pipe was moved: %v", err)
			}
			if n := manifestRecords(t, e.path("central/inbound/"+b1+".manifest")); n != int64(detailRecords(t, e.path("good"))) {
				t.Errorf("pushed %d records, the detail file has %d", n, detailRecords(t, e.path("good")))
			}
		})
	}
	t.Run("damaged file in open/", func(t *testing.T) {
		e := newEnv(t)
		e.detail("good", 4, 30)
		// A session with only its Start, so open/ holds it.
		start := strings.SplitAfter(string(mustRead(t, e.path("good"))), "\n\n")[0]
		e.write("start", strings.Replace(start, `Acct-Session-Id = "`, `Acct-Session-Id = "OPEN`, 1))
		e.must([]int{0}, "roamcollect", "import", e.path("start"))
		open := e.files("spool/open")
		if len(open) != 1 {
			t.Fatalf("open/ holds %v", open)
		}
		victim := e.path("spool/open/" + open[0])
		b := mustRead(t, victim)
		b[len("#roamspool 1\n")+3] ^= 1
		os.WriteFile(victim, b, 0o644)
		code, out := e.run("roamcollect", "sweep")
		if code != 3 {
			t.Fatalf("exit %d, want 3\n%s", code, out)
		}
		reason := string(mustRead(t, e.path("spool/bad/"+open[0]+".reason")))
		wantMatch(t, "the reason", reason, regexp.QuoteMeta(open[0])+`:2: (field \S+: )?.*`)
		t.Logf("reason: %s", strings.TrimSpace(strings.ReplaceAll(reason, e.dir+"/", "")))
	})
}
