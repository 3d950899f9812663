// Package systemd holds the systemd units of roamsettle (the alternative
// to cron/) and their test: systemd-analyze verify on each, in a
// throwaway root, so nothing of this host's systemd is read or changed.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/internal/testbin"
)

// verify runs systemd-analyze verify on units inside a root that has the
// host's stock units and an executable for each of our commands.
func verify(t *testing.T, units map[string]string) (string, error) {
	t.Helper()
	analyze := testbin.Require(t, "systemd-analyze")
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc/systemd/system", "usr/lib/systemd"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, b := range []string{"roamcollect", "roamload", "roamclean", "roamreport"} {
		os.WriteFile(filepath.Join(root, "usr/bin", b), []byte("#!/bin/sh\n"), 0o755)
	}
	if out, err := exec.Command("cp", "-r", "/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copy the stock units: %v\n%s", err, out)
	}
	args := []string{"verify", "--root=" + root}
	for name, body := range units {
		p := filepath.Join(root, "etc/systemd/system", name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".timer") || units[strings.TrimSuffix(name, ".timer")+".service"] != "" {
			args = append(args, p)
		}
	}
	out, err := exec.Command(analyze, args...).CombinedOutput()
	return string(out), err
}

func TestUnitsVerify(t *testing.T) {
	names, _ := filepath.Glob("*.service")
	timers, _ := filepath.Glob("*.timer")
	units := map[string]string{}
	for _, n := range append(names, timers...) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		units[n] = string(b)
	}
	if len(names) != 8 || len(timers) != 7 {
		t.Fatalf("%d services, %d timers", len(names), len(timers))
	}
	for _, n := range timers {
		if _, ok := units[strings.TrimSuffix(n, ".timer")+".service"]; !ok {
			t.Errorf("%s starts no unit of ours", n)
		}
	}
	if out, err := verify(t, units); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check can fail: a unit naming a missing program and a key that
	// does not exist does.
	if out, err := verify(t, map[string]string{"bad.service": "[Service]\nExecStart=/usr/bin/nothere\nRestartt=always\n"}); err == nil ||
		!strings.Contains(out, "nothere") || !strings.Contains(out, "Restartt") {
		t.Fatalf("a broken unit passed: %s", out)
	}
}
