package hostile

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// batchSet is three real batches made once by real edges: good1 and
// good2 (ISPB 1 and 2 of one edge) and other1 (ISPB 1 of another edge,
// other content: a reused sequence number when it meets good1).
type batchSet struct{ dir string }

func makeBatches(t *testing.T) batchSet {
	t.Helper()
	dir := t.TempDir()
	a := newEnv(t)
	a.edgeToInbound(1, 120)
	a.edgeToInbound(3, 120)
	c := newEnv(t)
	c.edgeToInbound(2, 120)
	for _, m := range []struct{ from, name, to string }{
		{a.path("central/inbound"), b1, "good1"},
		{a.path("central/inbound"), b2, "good2"},
		{c.path("central/inbound"), b1, "other1"},
	} {
		for _, ext := range []string{".tar", ".manifest"} {
			if err := os.WriteFile(filepath.Join(dir, m.to+ext), mustRead(t, filepath.Join(m.from, m.name+ext)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return batchSet{dir}
}

// place copies batch which (good1, good2, other1) into inbound/ as name.
func (s batchSet) place(t *testing.T, e *env, which, name string, exts ...string) {
	t.Helper()
	if len(exts) == 0 {
		exts = []string{".tar", ".manifest"}
	}
	for _, ext := range exts {
		b, err := os.ReadFile(filepath.Join(s.dir, which+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.path("central/inbound/"+name+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (s batchSet) records(t *testing.T, which string) int64 {
	return manifestRecords(t, filepath.Join(s.dir, which+".manifest"))
}

const (
	b1 = "ISPB-0000000001"
	b2 = "ISPB-0000000002"
)

// TestBatches: roamload meets a damaged or incomplete batch beside a good
// one. Each case names its error (batch, file, member, line) and the good
// batch is loaded exactly once; the damaged one loads nothing and a
// re-run changes nothing.
func TestBatches(t *testing.T) {
	set := makeBatches(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env)
		// noDAC runs roamload without root's CAP_DAC_OVERRIDE, so a
		// file's permissions apply to it.
		noDAC bool
		code  int
		log   []string // patterns in roamload's stderr
		// reason: pattern of quarantine/<ISPB-2>.reason's first line; ""
		// when nothing is quarantined.
		reason string
		// inbound: what stays in inbound/ (sorted)
		inbound []string
	}{
		{
			name: "truncated tar",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				p := e.path("central/inbound/" + b2 + ".tar")
				st, _ := os.Stat(p)
				os.Truncate(p, st.Size()/2+100)
			},
			code:   3,
			log:    []string{`quarantined.*` + b2},
			reason: `^` + b2 + `: ` + b2 + `\.tar: .*(member \S+\.sess|truncated|unexpected EOF)`,
		},
		{
			name: "flipped byte in a record",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				p := e.path("central/inbound/" + b2 + ".tar")
				b, _ := os.ReadFile(p)
				i := bytes.Index(b, []byte("session_time="))
				if i < 0 {
					t.Fatal("no session_time in the tar")
				}
				b[i+len("session_time=")] ^= 0x01 // a digit becomes another digit
				os.WriteFile(p, b, 0o644)
			},
			code:   3,
			reason: `^` + b2 + `: ` + b2 + `\.tar: member \S+\.sess:\d+: field crc: checksum mismatch`,
		},
		{
			name: "flipped byte in the tar header",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				p := e.path("central/inbound/" + b2 + ".tar")
				b, _ := os.ReadFile(p)
				b[3] ^= 0x20 // the first member's name
				os.WriteFile(p, b, 0o644)
			},
			code:   3,
			reason: `^` + b2 + `: ` + b2 + `\.tar: `,
		},
		{
			name: "a 10 MB line in a member",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				bigLine(t, e.path("central/inbound/"+b2))
			},
			code:   3,
			reason: `^` + b2 + `: ` + b2 + `\.tar: member \S+\.sess:2: line longer than 65536 bytes`,
		},
		{
			name: "reused sequence number, other content",
			setup: func(t *testing.T, e *env) {
				// good1 is loaded; then other content arrives under
				// its number, beside good2.
				e.must([]int{0}, "roamload")
				set.place(t, e, "other1", b1)
				set.place(t, e, "good2", b2)
			},
			code:   3,
			reason: `^` + b1 + `: ` + b1 + `\.manifest: sequence 1 of ISPB was already loaded with different content`,
		},
		{
			name: "manifest without tar",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2, ".manifest")
			},
			code:   3,
			reason: `^` + b2 + `: .*` + b2 + `\.tar`,
		},
		{
			name: "tar without manifest",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2, ".tar")
			},
			code:    0, // not a batch yet: the manifest comes last
			inbound: []string{b2 + ".tar"},
		},
		{
			name: "tar is a named pipe",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2, ".manifest")
				if err := syscall.Mkfifo(e.path("central/inbound/"+b2+".tar"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			code:    3,
			log:     []string{b2 + `\.tar: a named pipe \(FIFO\), not a regular file`, `skipped 1`},
			inbound: []string{b2 + ".manifest", b2 + ".tar"},
		},
		{
			name: "tar is a symbolic link to /dev/zero",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2, ".manifest")
				os.Symlink("/dev/zero", e.path("central/inbound/"+b2+".tar"))
			},
			code:    3,
			log:     []string{b2 + `\.tar: a symbolic link, not a regular file`, `skipped 1`},
			inbound: []string{b2 + ".manifest", b2 + ".tar"},
		},
		{
			name: "tar is a symbolic link to the real tar elsewhere",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2, ".manifest")
				os.Symlink(filepath.Join(set.dir, "good2.tar"), e.path("central/inbound/"+b2+".tar"))
			},
			code:    3,
			log:     []string{b2 + `\.tar: a symbolic link, not a regular file`, `skipped 1`},
			inbound: []string{b2 + ".manifest", b2 + ".tar"},
		},
		{
			name: "unreadable manifest",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				os.Chmod(e.path("central/inbound/"+b2+".manifest"), 0)
			},
			noDAC:   true,
			code:    3,
			log:     []string{b2 + `\.manifest: permission denied`, `skipped 1`},
			inbound: []string{b2 + ".manifest", b2 + ".tar"},
		},
		{
			name: "unreadable tar",
			setup: func(t *testing.T, e *env) {
				set.place(t, e, "good2", b2)
				os.Chmod(e.path("central/inbound/"+b2+".tar"), 0)
			},
			noDAC:   true,
			code:    3,
			log:     []string{b2 + `\.tar: permission denied`, `skipped 1`},
			inbound: []string{b2 + ".manifest", b2 + ".tar"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			set.place(t, e, "good1", b1)
			tc.setup(t, e)
			run := func() (int, string) {
				if !tc.noDAC {
					return e.run("roamload")
				}
				return e.runNoDAC("roamload")
			}
			code, out := run()
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, out)
			}
			wantMatch(t, "roamload's log", out, tc.log...)
			if i := strings.Index(out, "level=ERROR"); i >= 0 {
				t.Logf("error: %s", strings.SplitN(out[i:], "\n", 2)[0])
			}
			quarantined := ""
			if tc.reason != "" {
				q := e.files("central/quarantine")
				for _, n := range q {
					if strings.HasSuffix(n, ".reason") {
						b, _ := os.ReadFile(e.path("central/quarantine/" + n))
						quarantined = strings.SplitN(string(b), "\n", 2)[0]
					}
				}
				wantMatch(t, "the quarantine reason", quarantined, tc.reason)
				t.Logf("reason: %s", quarantined)
				wantMatch(t, "roamload's log", out, `quarantined 1`)
			} else if q := e.files("central/quarantine"); len(q) > 0 {
				t.Errorf("quarantined %v", q)
			}
			if got := e.files("central/inbound"); strings.Join(got, " ") != strings.Join(tc.inbound, " ") {
				t.Errorf("inbound/ holds %v, want %v", got, tc.inbound)
			}
			// The good batch is loaded once, with every record; the
			// damaged one contributes nothing.
			want := set.records(t, "good1")
			wantBatches := int64(1)
			if tc.name == "reused sequence number, other content" {
				want += set.records(t, "good2")
				wantBatches = 2
			}
			e.checkLoaded(wantBatches, want)
			// A re-run changes nothing.
			code2, out2 := run()
			if code2 != 0 && code2 != tc.code {
				t.Errorf("re-run: exit %d\n%s", code2, out2)
			}
			e.checkLoaded(wantBatches, want)
			if tc.name == "tar without manifest" {
				// status names it; its manifest, when it comes, completes it.
				cmd := e.command("roamload", nil, "status")
				status, _ := cmd.Output()
				wantMatch(t, "roamload status", string(status), b2+`\.tar\s+incomplete\s`)
				set.place(t, e, "good2", b2, ".manifest")
				e.must([]int{0}, "roamload")
				e.checkLoaded(2, want+set.records(t, "good2"))
			}
			if tc.noDAC {
				// Permissions fixed: the batch left in inbound/ loads.
				for _, n := range tc.inbound {
					os.Chmod(e.path("central/inbound/"+n), 0o644)
				}
				e.must([]int{0}, "roamload")
				e.checkLoaded(2, want+set.records(t, "good2"))
			}
		})
	}
}

// bigLine rewrites a batch: its first member's second line becomes 10 MB
// long, and the manifest gives that member its new size (as a sender
// would that means it), so the loader reaches the line itself.
func bigLine(t *testing.T, base string) {
	t.Helper()
	in, err := os.Open(base + ".tar")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&out)
	var name string
	var oldSize, newSize int64
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if i == 0 {
			lines := strings.SplitAfterN(string(b), "\n", 3)
			lines[1] = "user_name=" + strings.Repeat("x", 10<<20) + "\n"
			name, oldSize = h.Name, h.Size
			b = []byte(strings.Join(lines, ""))
			h.Size, newSize = int64(len(b)), int64(len(b))
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	in.Close()
	tw.Close()
	os.WriteFile(base+".tar", out.Bytes(), 0o644)
	m := string(mustRead(t, base+".manifest"))
	old := fmt.Sprintf(" %d ", oldSize)
	i := strings.Index(m, name)
	j := strings.LastIndex(m[:i], old)
	m = m[:j] + fmt.Sprintf(" %d ", newSize) + m[j+len(old):]
	os.WriteFile(base+".manifest", []byte(m), 0o644)
}

// checkLoaded: batches rows, raw rows and archive/ agree, once each.
func (e *env) checkLoaded(batches, records int64) {
	e.t.Helper()
	if n := e.count("SELECT count(*) FROM batches"); n != batches {
		e.t.Errorf("batches: %d, want %d", n, batches)
	}
	if n := e.count("SELECT count(*) FROM raw"); n != records {
		e.t.Errorf("raw records: %d, want %d", n, records)
	}
	if n := e.count("SELECT count(*) FROM (SELECT batch_id, member_id, line FROM raw GROUP BY 1, 2, 3 HAVING count(*) > 1)"); n != 0 {
		e.t.Errorf("%d raw lines loaded twice", n)
	}
	for _, n := range e.files("central/archive") {
		if strings.Contains(n, "~") {
			e.t.Errorf("archive/ holds a second copy: %s", n)
		}
	}
	if n := int64(len(e.files("central/archive"))); n != 2*batches {
		e.t.Errorf("archive/ holds %v, want %d batches", e.files("central/archive"), batches)
	}
}

// runNoDAC runs a stage as root without CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH: file permissions then apply, as to the service
// user it runs as in production.
func (e *env) runNoDAC(name string, args ...string) (int, string) {
	e.t.Helper()
	if os.Geteuid() != 0 {
		return e.run(name, args...)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") != "" {
			e.t.Fatal("setpriv (util-linux) is needed to drop root's file capabilities")
		}
		e.t.Skip("setpriv not installed")
	}
	var stderr bytes.Buffer
	cmd := e.command(name, &stderr, args...)
	cmd.Args = append([]string{setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search", "--"}, cmd.Args...)
	cmd.Path = setpriv
	cmd.Run()
	return cmd.ProcessState.ExitCode(), stderr.String()
}
