package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/store"
)

// TestHugeCounterEndToEnd: an authentic Stop whose Acct-Input-Gigawords
// and Acct-Input-Octets are both 4294967295 (a legal 64-bit counter that
// SQLite's integers cannot hold), once from a NAS (real radclient against
// the real listener) and once from a FreeRADIUS detail file, is spooled,
// pushed and loaded with its problem on its row; the sessions beside it in
// the same batch load as usual and nothing is quarantined.
func TestHugeCounterEndToEnd(t *testing.T) {
	rc := testbin.Require(t, "radclient")
	port := testbin.FreeUDPPort(t)
	c := newCentral(t, fmt.Sprintf(`
[edge]
isp = "ISPB"
spool = "spool"
push = "inbound"
listen = "127.0.0.1:%d"
timezone = "Australia/Sydney"

[[edge.nas]]
name = "nas1"
address = "127.0.0.1"
secret = "testing123"
`, port))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}

	listen := exec.Command(testbin.Command(t, "roamcollect"), "--config", c.cfg, "listen")
	listen.Env = env
	logs := &testbin.Output{}
	listen.Stderr = logs
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer listen.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "listening for RADIUS accounting"); {
		if time.Now().After(deadline) {
			t.Fatalf("listener did not start:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	send := func(attrs ...string) {
		t.Helper()
		cmd := exec.Command(rc, "-t", "2", "-r", "3", fmt.Sprintf("127.0.0.1:%d", port), "acct", "testing123")
		cmd.Stdin = strings.NewReader(strings.Join(attrs, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("radclient: %v\n%s", err, out)
		}
	}
	for _, sid := range []string{"big", "ok"} {
		common := []string{`User-Name = "user1@aimnet.com"`, fmt.Sprintf("Acct-Session-Id = %q", sid)}
		send(append(common, "Acct-Status-Type = Start")...)
		stop := append(common, "Acct-Status-Type = Stop", "Acct-Session-Time = 300")
		if sid == "big" {
			stop = append(stop, "Acct-Input-Gigawords = 4294967295", "Acct-Input-Octets = 4294967295")
		}
		send(stop...)
	}
	listen.Process.Signal(syscall.SIGTERM)
	if err := listen.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, logs)
	}

	detail := filepath.Join(c.dir, "detail")
	os.WriteFile(detail, []byte("Tue Jun 30 18:48:35 2026\n"+
		"\tAcct-Status-Type = Stop\n\tAcct-Session-Id = \"fromdetail\"\n\tUser-Name = \"user2@aimnet.com\"\n"+
		"\tNAS-IP-Address = 127.0.0.1\n\tAcct-Session-Time = 120\n"+
		"\tAcct-Input-Gigawords = 4294967295\n\tAcct-Input-Octets = 4294967295\n\tTimestamp = 1782845315\n\n"), 0o644)
	for _, args := range [][]string{{"import", detail}, {"push"}} {
		cmd := exec.Command(testbin.Command(t, "roamcollect"), append([]string{"--config", c.cfg}, args...)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("roamcollect %s: %v\n%s", args[0], err, out)
		}
	}

	code, stderr := roamload(t, "", "--config", c.cfg)
	if code != 0 || !strings.Contains(stderr, "loaded 1,") || !strings.Contains(stderr, "quarantined 0") || !strings.Contains(stderr, "problems 2") {
		t.Fatalf("roamload: exit %d\n%s", code, stderr)
	}
	db, err := store.Open(context.Background(), c.path("db/roam.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.SQL().Query("SELECT session_id, status_type, input_octets IS NULL, coalesce(problem, '') FROM raw ORDER BY session_id, status_type")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var sid, st, problem string
		var null bool
		rows.Scan(&sid, &st, &null, &problem)
		got = append(got, fmt.Sprintf("%s %s null=%v problem=%v", sid, st, null, strings.Contains(problem, "input_octets 18446744073709551615")))
	}
	want := "big Start null=false problem=false|big Stop null=true problem=true|fromdetail Stop null=true problem=true|ok Start null=false problem=false|ok Stop null=false problem=false"
	if strings.Join(got, "|") != want {
		t.Errorf("raw rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.ReplaceAll(want, "|", "\n"))
	}
}
