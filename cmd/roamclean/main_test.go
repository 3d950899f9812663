package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
)

// TestEndToEnd: the real roamcollect listen, fed by the real radclient
// with a Stop sent twice (as two requests), a session whose Stop never
// comes, a user of a realm of no partner and an Accounting-On; sweep and
// push to a folder; roamload; roamclean. The history holds the expected
// sessions, every record its outcome, and status and rejects say so.
func TestEndToEnd(t *testing.T) {
	rc := testbin.Require(t, "radclient")
	dir := t.TempDir()
	port := testbin.FreeUDPPort(t)
	cfg := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[settlement]
inbound = "inbound"
db = "db/roam.db"

[edge]
isp = "ISPB"
spool = "spool"
push = "inbound"
listen = "127.0.0.1:%d"
stale_after = "2s"
sweep_every = "1h"

[[edge.nas]]
name = "nas1"
address = "127.0.0.1"
secret = "testing123"
`, port)), 0o644)
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n"+
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n"), 0o644)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	run := func(bin string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(testbin.Command(t, bin), append([]string{"--config", cfg}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !isExit(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}

	listen := exec.Command(testbin.Command(t, "roamcollect"), "--config", cfg, "listen")
	listen.Env = env
	logs := &testbin.Output{}
	listen.Stderr = logs
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer listen.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "listening for RADIUS accounting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start:\n%s", logs)
		}
	}
	send := func(attrs ...string) {
		t.Helper()
		cmd := exec.Command(rc, "-t", "2", "-r", "3", fmt.Sprintf("127.0.0.1:%d", port), "acct", "testing123")
		cmd.Stdin = strings.NewReader(strings.Join(attrs, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("radclient: %v\n%s", err, out)
		}
	}
	t0 := time.Now().Add(-time.Hour).Unix() // the NAS stamps A1's records; it rebooted an hour before
	send("Acct-Status-Type = Accounting-On", fmt.Sprintf("Event-Timestamp = %d", t0-3600))
	a := []string{`User-Name = "alice@AimNet.com"`, `Acct-Session-Id = "A1"`}
	send(append(a, "Acct-Status-Type = Start", fmt.Sprintf("Event-Timestamp = %d", t0))...)
	stop := append(a, "Acct-Status-Type = Stop", "Acct-Session-Time = 300", "Acct-Input-Octets = 1000", fmt.Sprintf("Event-Timestamp = %d", t0+300))
	send(stop...)
	send(stop...) // the NAS sends it again, as a new request
	b := []string{`User-Name = "bob@aimnet.com"`, `Acct-Session-Id = "B1"`}
	send(append(b, "Acct-Status-Type = Start")...)
	send(append(b, "Acct-Status-Type = Interim-Update", "Acct-Session-Time = 120")...) // no Stop ever
	send(`User-Name = "eve@nowhere.org"`, `Acct-Session-Id = "E1"`, "Acct-Status-Type = Stop", "Acct-Session-Time = 60")
	listen.Process.Signal(syscall.SIGTERM)
	if err := listen.Wait(); err != nil {
		t.Fatalf("listen: %v\n%s", err, logs)
	}
	time.Sleep(2100 * time.Millisecond) // B1 goes stale
	for _, step := range [][]string{{"roamcollect", "sweep"}, {"roamcollect", "push"}, {"roamload"}} {
		if code, out := run(step[0], step[1:]...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", step, code, out)
		}
	}
	code, out := run("roamclean")
	if code != 3 || !strings.Contains(out, "records 7, session_records 4, duplicates 1, irrelevant 1, rejected 1") {
		t.Fatalf("roamclean: exit %d (want 3)\n%s", code, out)
	}

	// The history: A1 with its Stop's figures (the copy a duplicate), B1
	// estimated at its interim; eve rejected; the Accounting-On irrelevant.
	var status struct {
		Records, Sessions, Estimated int64
		Reasons                      map[string]int64
	}
	_, js := runOut(t, testbin.Command(t, "roamclean"), env, "--config", cfg, "status", "--json")
	if err := json.Unmarshal([]byte(js), &status); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if status.Records != 7 || status.Sessions != 2 || status.Estimated != 1 || status.Reasons["DUPLICATE"] != 1 ||
		status.Reasons["UNKNOWN_REALM"] != 1 || status.Reasons["ACCOUNTING_ON_OFF"] != 1 || status.Reasons["SESSION"] != 4 {
		t.Errorf("status: %+v\n%s", status, js)
	}
	sq := testbin.Require(t, "sqlite3")
	_, rows := runOut(t, sq, nil, filepath.Join(dir, "db", "roam.db"),
		"SELECT user_name, home_isp, local_isp, duration, estimated, input_octets FROM sessions ORDER BY session_id")
	if rows != "alice@aimnet.com|ISPA|ISPB|300|0|1000\nbob@aimnet.com|ISPA|ISPB|120|1|0\n" {
		t.Errorf("sessions:\n%s", rows)
	}
	_, rej := runOut(t, testbin.Command(t, "roamclean"), env, "--config", cfg, "rejects", "--sender", "ISPB")
	recs, err := csv.NewReader(strings.NewReader(rej)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][5] != "UNKNOWN_REALM" || !strings.Contains(recs[1][6], `realm "nowhere.org"`) ||
		recs[1][1] != "ISPB-0000000001" || recs[1][3] != "2" {
		t.Errorf("rejects: %v\n%s", err, rej)
	}
	// A second run finds nothing new and changes nothing.
	if code, out := run("roamclean"); code != 0 || !strings.Contains(out, "records 0,") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
}

func runOut(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !isExit(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func isExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}
