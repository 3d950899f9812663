// Package cron holds the crontabs of the edge and central hosts and their
// test: every flag a job passes is one its command has, and a job's
// failure always reaches MAILTO (cron mails what a job prints) while a
// success prints nothing.
package cron

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"roamsettle/internal/testbin"
)

type job struct {
	line, command string
}

// read returns a crontab's variables and jobs.
func read(t *testing.T, name string) (env []string, jobs []job) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	assign := regexp.MustCompile(`^[A-Z_]+=`)
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
		case assign.MatchString(l):
			env = append(env, l)
		default:
			f := strings.Fields(l)
			if len(f) < 6 {
				t.Fatalf("%s: not a job: %q", name, l)
			}
			// The command is what follows the five time fields.
			rest := l
			for range 5 {
				rest = strings.TrimLeft(rest, " \t")
				rest = rest[strings.IndexAny(rest, " \t"):]
			}
			jobs = append(jobs, job{l, strings.TrimSpace(rest)})
		}
	}
	return env, jobs
}

var (
	tools       = []string{"roamcollect", "roamload", "roamclean", "roamreport"}
	invocation  = regexp.MustCompile(`\b(roamcollect|roamload|roamclean|roamreport)\b([^|;&]*?)(?:2>>|\|\||;|&&|$)`)
	quoted      = regexp.MustCompile(`"[^"]*"`)
	subcommands = map[string]bool{"listen": true, "import": true, "sweep": true, "push": true, "prune": true, "status": true, "publish": true, "verify": true, "rejects": true}
)

// TestFlags: each flag a job gives appears in its command's --help.
func TestFlags(t *testing.T) {
	help := map[string]string{}
	for _, name := range []string{"edge.crontab", "central.crontab"} {
		_, jobs := read(t, name)
		for _, j := range jobs {
			for _, m := range invocation.FindAllStringSubmatch(quoted.ReplaceAllString(j.command, `""`), -1) {
				args := strings.Fields(m[2])
				cmd := []string{m[1]}
				if len(args) > 0 && subcommands[args[0]] {
					cmd = append(cmd, args[0])
				}
				key := strings.Join(cmd, " ")
				if _, ok := help[key]; !ok {
					out, err := exec.Command(testbin.Command(t, m[1]), append(cmd[1:], "--help")...).CombinedOutput()
					if err != nil {
						t.Fatalf("%s --help: %v\n%s", key, err, out)
					}
					help[key] = string(out)
				}
				for _, a := range args {
					if flag, _, _ := strings.Cut(a, "="); strings.HasPrefix(flag, "--") && !strings.Contains(help[key], "   "+flag+" ") {
						t.Errorf("%s: %s has no flag %s", name, key, flag)
					}
				}
			}
		}
	}
}

// TestPaths: the jobs write where the Debian package makes folders the
// user roam can write (postinst: /var/lib/roamsettle/metrics, the
// systemd units' metrics folder, and /var/log/roamsettle); a metrics file
// that cannot be written is only logged (exit 0), so a folder that is not
// there silences every alert without a mail.
func TestPaths(t *testing.T) {
	post, err := os.ReadFile("../deb/postinst")
	if err != nil {
		t.Fatal(err)
	}
	files := regexp.MustCompile(`(?:--metrics-file |2>>)(/\S+)/[^/\s]+`)
	for _, name := range []string{"edge.crontab", "central.crontab"} {
		_, jobs := read(t, name)
		for _, j := range jobs {
			for _, m := range files.FindAllStringSubmatch(j.command, -1) {
				if !strings.Contains(string(post), m[1]) {
					t.Errorf("%s: %s is not a folder the package makes (deb/postinst): %.60s", name, m[1], j.command)
				}
			}
		}
	}
}

// TestFailuresAreMailed runs every job with each command replaced by a
// stand-in that exits with a given code: on 0 the job prints nothing, on
// any other code one line per failed command naming it, its exit and its
// log, except sweep's 4 (a listener holds the spool and sweeps itself).
// Every command of a job runs whatever the one before it exited.
func TestFailuresAreMailed(t *testing.T) {
	for _, name := range []string{"edge.crontab", "central.crontab"} {
		env, jobs := read(t, name)
		if !strings.Contains(strings.Join(env, "\n"), "MAILTO=") {
			t.Errorf("%s sets no MAILTO", name)
		}
		for _, j := range jobs {
			for _, code := range []int{0, 1, 2, 3, 4} {
				t.Run(fmt.Sprintf("%s %.40s exit %d", name, j.command, code), func(t *testing.T) {
					dir := t.TempDir()
					bin := filepath.Join(dir, "bin")
					os.Mkdir(bin, 0o755)
					ran := filepath.Join(dir, "ran")
					for _, tool := range tools {
						shim := fmt.Sprintf("#!/bin/sh\necho %s \"$1\" >> %s\nexit %d\n", tool, ran, code)
						os.WriteFile(filepath.Join(bin, tool), []byte(shim), 0o755)
					}
					cmdline := strings.NewReplacer("/var/log/roamsettle", filepath.Join(dir, "log"), "/var/lib/roamsettle/metrics", filepath.Join(dir, "prom"),
						"/var/log/freeradius", filepath.Join(dir, "freeradius")).Replace(j.command)
					os.Mkdir(filepath.Join(dir, "log"), 0o755)
					sh := exec.Command("/bin/sh", "-c", cmdline)
					sh.Env = append(env, "PATH="+bin+":/usr/bin:/bin", "HOME="+dir)
					out, _ := sh.Output()
					ranB, _ := os.ReadFile(ran)
					want := len(invocation.FindAllString(quoted.ReplaceAllString(j.command, `""`), -1))
					if got := strings.Count(string(ranB), "\n"); got != want {
						t.Fatalf("%d of the job's %d commands ran:\n%s", got, want, ranB)
					}
					quiet := code == 0 || code == 4 && strings.Contains(j.command, "roamcollect sweep")
					lines := strings.Count(string(out), "\n")
					switch {
					case quiet && lines != 0:
						t.Errorf("printed (so cron mails) on exit %d:\n%s", code, out)
					case !quiet && lines != want:
						t.Errorf("exit %d of %d command(s) printed %d line(s) for MAILTO:\n%s", code, want, lines, out)
					case !quiet && !strings.Contains(string(out), fmt.Sprintf("exited %d: see ", code)):
						t.Errorf("the mail does not say the exit and the log: %s", out)
					}
				})
			}
		}
	}
}
