package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/app"
)

func run(args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	a := newApp()
	a.Writer = &out
	code := app.Main(a, append([]string{"roamsim"}, args...), &errs)
	return code, out.String(), errs.String()
}

func TestRoamsim(t *testing.T) {
	common := []string{"--partners", "../../example/partners.csv", "--isp", "ISPB", "--sessions", "50", "--seed", "9", "--start", "2026-06-01", "--days", "30", "--nas-ip", "127.0.0.1"}
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"detail", append([]string{"detail"}, common...), 0, "\tAcct-Status-Type = Start\n", ""},
		{"radclient", append([]string{"radclient"}, common...), 0, "\nAcct-Status-Type = Start\n", ""},
		{"no subcommand", nil, 2, "", "a command is needed"},
		{"no isp, no config", []string{"detail", "--partners", "../../example/partners.csv", "--config", "nope.toml"}, 2, "", "give --partners and --isp"},
		{"from the configuration", []string{"detail", "--config", "../../example/roam.toml", "--sessions", "3"}, 0, "\tAcct-Status-Type = Start\n", ""},
		{"unknown isp", []string{"detail", "--partners", "../../example/partners.csv", "--isp", "NOPE"}, 2, "", `--isp "NOPE" is not a partner id`},
		{"bad start", append(append([]string{"detail"}, common...), "--start", "June"), 2, "", "--start"},
		{"bad nas ip", append(append([]string{"detail"}, common...), "--nas-ip", "nas1"), 2, "", "--nas-ip"},
		{"missing partners", []string{"detail", "--partners", "nope.csv", "--isp", "ISPB"}, 2, "", "nope.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Errorf("exit %d (want %d)\nstdout %.200q (want %q)\nstderr %q (want %q)", code, tc.code, out, tc.out, errs, tc.err)
			}
		})
	}
	_, a, _ := run(append([]string{"detail"}, common...)...)
	_, b, _ := run(append([]string{"detail"}, common...)...)
	if a != b || a == "" {
		t.Error("same seed must give the same bytes")
	}
}

// TestSendToTheListener: the built-in NAS sends what `roamsim radclient`
// writes, request for request, to a real `roamcollect listen`, which
// writes and answers every one of them.
func TestSendToTheListener(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreeUDPPort(t))
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "roam.toml"), []byte(fmt.Sprintf(`[edge]
isp = "ISPB"
spool = "spool"
listen = %q
timezone = "Australia/Sydney"

[[edge.nas]]
name = "nas1"
address = "127.0.0.1"
secret_file = "secret"
`, addr)), 0o600)
	var logs testbin.Output
	listen := exec.Command(testbin.Command(t, "roamcollect"), "--config", filepath.Join(dir, "roam.toml"), "listen")
	listen.Stderr = &logs
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer listen.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "listening for RADIUS accounting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start:\n%s", logs.String())
		}
	}
	common := []string{"--partners", "../../example/partners.csv", "--isp", "ISPB", "--sessions", "40", "--seed", "4", "--start", "2026-06-01", "--days", "2"}
	_, input, _ := run(append([]string{"radclient"}, common...)...)
	want := strings.Count(input, "Acct-Status-Type = ")
	code, out, errs := run(append([]string{"send", "--to", addr, "--secret-file", filepath.Join(dir, "secret")}, common...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("sent %d requests to %s, %d answered", want, addr, want)) {
		t.Fatalf("send: exit %d\n%s%s", code, out, errs)
	}
	listen.Process.Signal(syscall.SIGTERM)
	listen.Wait()
	if s := fmt.Sprintf("received %d, written %d, answered %d, retransmissions 0", want, want, want); !strings.Contains(logs.String(), s) {
		t.Errorf("the listener's summary lacks %q:\n%s", s, logs.String())
	}

	// Nobody listening: no answer to the first request, exit 1 at once.
	code, _, errs = run("send", "--to", addr, "--secret-file", filepath.Join(dir, "secret"), "--partners", "../../example/partners.csv", "--isp", "ISPB", "--sessions", "1")
	if code != 1 || !strings.Contains(errs, "nothing listening") {
		t.Errorf("send to nobody: exit %d, %s", code, errs)
	}
}

// A bad flag of send is a usage error (exit 2) naming the flag, before
// anything is sent: not "line 1: ..." as if the traffic were at fault, and
// not a --parallel of 0 quietly taken as 1 or one of a billion that
// allocates a queue that size.
func TestSendBadFlags(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s\n"), 0o600)
	base := []string{"send", "--to", "127.0.0.1:9", "--secret-file", secret, "--partners", "../../example/partners.csv", "--isp", "ISPB", "--sessions", "1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--start", "bogus"}, `roamsim: --start "bogus": want YYYY-MM-DD`},
		{[]string{"--parallel", "0"}, "--parallel 0: want 1 to 1024"},
		{[]string{"--parallel", "-3"}, "--parallel -3: want 1 to 1024"},
		{[]string{"--parallel", "1000000000"}, "--parallel 1000000000: want 1 to 1024"},
	} {
		code, out, errs := run(append(base, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Contains(errs, "line 1") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}
