// Package deb holds what the Debian package adds to the repository (the
// example configuration, the sysusers.d file, the maintainer scripts; the
// rest comes from cmd/, systemd/ and docs/) and its test: scripts/package.sh
// builds the .deb, which is installed, upgraded, removed and purged with
// dpkg in a throwaway root, and the installed commands run there as the
// user roam (chroot), so nothing of this host's own system is touched.
package deb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/config"
)

var tools = []string{"roamcollect", "roamload", "roamclean", "roamreport", "roamsim"}

// run runs a program and fails the test unless it exits 0; it returns
// stdout and stderr.
func run(t *testing.T, env []string, name string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestPackageInstallsAndRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		// dpkg --root and chroot need root; CI runs the tests as root.
		if os.Getenv("CI") != "" {
			t.Fatal("the package test needs root (dpkg --root, chroot)")
		}
		t.Skip("the package test needs root (dpkg --root, chroot)")
	}
	dpkg := testbin.Require(t, "dpkg")
	dpkgDeb := testbin.Require(t, "dpkg-deb")
	man := testbin.Require(t, "man")
	chroot := testbin.Require(t, "chroot", "/usr/sbin/chroot")

	// Build: uncompressed, since xz takes longer than everything else here.
	out, _ := run(t, []string{"DEB_COMPRESSION=none"}, "../scripts/package.sh", t.TempDir())
	deb := strings.TrimSpace(out)
	version, _ := run(t, nil, dpkgDeb, "--field", deb, "Version")
	version = strings.TrimSpace(version)
	if version == "" || !strings.HasSuffix(deb, "_"+version+"_"+archOf(t)+".deb") {
		t.Fatalf("package %s, version %q", deb, version)
	}
	info, _ := run(t, nil, dpkgDeb, "--info", deb)
	for _, w := range []string{"Package: roamsettle", " conffiles", " postinst", " postrm", " prerm", " md5sums"} {
		if !strings.Contains(info, w) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", w, info)
		}
	}
	contents, _ := run(t, nil, dpkgDeb, "--contents", deb)
	want := []string{"./etc/roamsettle/roam.toml", "./etc/roamsettle/partners.csv", "./etc/roamsettle/tariffs.csv",
		"./usr/lib/sysusers.d/roamsettle.conf", "./usr/share/doc/roamsettle/packaging.md", "./var/lib/roamsettle/metrics/"}
	for _, tool := range tools {
		want = append(want, "./usr/bin/"+tool, "./usr/share/man/man1/"+tool+".1.gz",
			"./usr/share/bash-completion/completions/"+tool, "./usr/share/zsh/vendor-completions/_"+tool)
	}
	services, _ := filepath.Glob("../systemd/*.service")
	timers, _ := filepath.Glob("../systemd/*.timer")
	units := append(services, timers...)
	for _, u := range units {
		want = append(want, "./lib/systemd/system/"+filepath.Base(u))
	}
	if len(units) != 15 {
		t.Fatalf("units in systemd/: %v", units)
	}
	for _, w := range want {
		if !slices.ContainsFunc(strings.Split(contents, "\n"), func(l string) bool { return strings.HasSuffix(l, " "+w) }) {
			t.Errorf("package lacks %s", w)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(contents), "\n") {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "root/root" {
			t.Errorf("not owned by root: %s", l)
		}
	}
	if p, err := exec.LookPath("lintian"); err == nil {
		// Informative only: a local package has no changelog or copyright
		// of Debian's form.
		o, _ := exec.Command(p, deb).CombinedOutput()
		t.Logf("lintian:\n%s", o)
	}

	// Install into a throwaway root; the maintainer scripts run on this
	// host with DPKG_ROOT set (--force-script-chrootless).
	root := t.TempDir()
	os.Chmod(root, 0o755) // the user roam runs commands in it below
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	dpkgIn := func(args ...string) (string, string) {
		t.Helper()
		return run(t, nil, dpkg, append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null",
			"--path-include=*"}, args...)...) // whatever path-exclude the host has (Docker images drop /usr/share/man)
	}
	dpkgIn("-i", deb)
	at := func(p string) string { return filepath.Join(root, p) }

	got, _ := run(t, nil, at("usr/bin/roamcollect"), "--version")
	if got != "roamcollect version "+version+"\n" {
		t.Errorf("roamcollect --version: %q, want version %s", got, version)
	}
	for _, tool := range tools {
		page := at("usr/share/man/man1/" + tool + ".1.gz")
		text, warnings := run(t, []string{"MANWIDTH=80", "MAN_DISABLE_SECCOMP=1"}, man, "--warnings", "-l", page)
		if warnings != "" || !strings.Contains(text, "EXIT STATUS") || !strings.Contains(text, "4      locked") || !strings.Contains(text, "--config") {
			t.Errorf("man -l %s: warnings %q, page:\n%s", page, warnings, text)
		}
	}
	// As a user types it, with the installed manual on the path.
	if text, warnings := run(t, []string{"MANPATH=" + at("usr/share/man"), "MAN_DISABLE_SECCOMP=1"}, man, "--warnings", "roamload"); warnings != "" || !strings.Contains(text, "NAME\n       roamload ") || !strings.Contains(text, "EXIT STATUS") {
		t.Errorf("man roamload: warnings %q, page:\n%s", warnings, text)
	}

	// Bash completion: the installed script asks the installed command.
	complete := func(words ...string) string {
		t.Helper()
		script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _roamcollect_complete; printf '%s\n' "${COMPREPLY[@]}"`
		o, _ := run(t, []string{"PATH=" + at("usr/bin") + ":" + os.Getenv("PATH")}, "bash", append([]string{"-c", script, "bash", at("usr/share/bash-completion/completions/roamcollect")}, words...)...)
		return o
	}
	if got := complete("roamcollect", "pu"); got != "push\n" {
		t.Errorf("completion of roamcollect pu: %q", got)
	}
	if got := complete("roamcollect", "push", "--insecure"); got != "--insecure-ignore-host-key\n" {
		t.Errorf("completion of roamcollect push --insecure: %q", got)
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		run(t, nil, zsh, "-n", at("usr/share/zsh/vendor-completions/_roamcollect"))
	}

	// What dpkg recorded: every /etc file is a conffile.
	conffiles, err := os.ReadFile(at("var/lib/dpkg/info/roamsettle.conffiles"))
	if err != nil || string(conffiles) != "/etc/roamsettle/partners.csv\n/etc/roamsettle/roam.toml\n/etc/roamsettle/tariffs.csv\n" {
		t.Errorf("conffiles: %q %v", conffiles, err)
	}
	for _, u := range units {
		a, _ := os.ReadFile(u)
		b, err := os.ReadFile(at("lib/systemd/system/" + filepath.Base(u)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("installed %s differs from systemd/ (%v)", filepath.Base(u), err)
		}
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		// The installed units against the installed binaries (units_test
		// checks them against stand-ins); the host's stock units are
		// copied in for the targets they name.
		os.MkdirAll(at("usr/lib/systemd"), 0o755)
		run(t, nil, "cp", "-r", "/lib/systemd/system", at("usr/lib/systemd/"))
		args := []string{"verify", "--root=" + root}
		for _, u := range services {
			args = append(args, at("lib/systemd/system/"+filepath.Base(u)))
		}
		if o, err := exec.Command(analyze, args...).CombinedOutput(); err != nil || strings.TrimSpace(string(o)) != "" {
			t.Errorf("systemd-analyze verify of the installed units: %v\n%s", err, o)
		}
	}

	// The user and its folders.
	uid, gid := user(t, at("etc/passwd"), "roam")
	// node_exporter (user prometheus) must reach the metrics files: the
	// state folder lets others through (not list it), metrics/ is open;
	// what the stages make inside the state folder is 0750 (UMask=0027).
	for _, c := range []struct {
		path     string
		uid, gid int
		perm     os.FileMode
	}{{"var/lib/roamsettle", uid, gid, 0o751}, {"var/lib/roamsettle/metrics", uid, gid, 0o755}, {"etc/roamsettle/secrets", 0, gid, 0o750},
		// Where the example crontabs' jobs log (2>>/var/log/roamsettle/...):
		// without it a job's redirection fails and the stage never runs.
		{"var/log/roamsettle", uid, gid, 0o750}} {
		st, err := os.Stat(at(c.path))
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if int(s.Uid) != c.uid || int(s.Gid) != c.gid || st.Mode().Perm() != c.perm {
			t.Errorf("/%s: %d:%d %v, want %d:%d %v", c.path, s.Uid, s.Gid, st.Mode().Perm(), c.uid, c.gid, c.perm)
		}
	}

	// The installed configuration is complete for both hosts' commands,
	if _, err := config.Load(at("etc/roamsettle/roam.toml"), false, nil, config.NeedEdge|config.NeedCentral|config.NeedParties); err != nil {
		t.Errorf("the installed roam.toml: %v", err)
	}
	// and the commands run with it, as roam, as the units run them.
	asRoam := func(args ...string) {
		t.Helper()
		run(t, nil, chroot, append([]string{"--userspec=" + strconv.Itoa(uid) + ":" + strconv.Itoa(gid), root}, args...)...)
	}
	cfg := "--config=/etc/roamsettle/roam.toml"
	asRoam("/usr/bin/roamcollect", cfg, "sweep")
	asRoam("/usr/bin/roamcollect", cfg, "push")
	asRoam("/usr/bin/roamload", cfg, "--metrics-file", "/var/lib/roamsettle/metrics/roamload.prom")
	asRoam("/usr/bin/roamclean", cfg)
	asRoam("/usr/bin/roamload", cfg, "status")
	if _, err := os.Stat(at("var/lib/roamsettle/roam.db")); err != nil {
		t.Errorf("roamload made no database: %v", err)
	}

	// Upgrade (the same package again): a local edit of a conffile stays.
	edited := []byte("# edited here\n")
	f, _ := os.OpenFile(at("etc/roamsettle/roam.toml"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(edited)
	f.Close()
	dpkgIn("-i", deb)
	if b, _ := os.ReadFile(at("etc/roamsettle/roam.toml")); !bytes.HasSuffix(b, edited) {
		t.Errorf("reinstall dropped the local edit of roam.toml")
	}

	// Remove: the programs go, the configuration, user and data stay.
	dpkgIn("-r", "roamsettle")
	for p, gone := range map[string]bool{"usr/bin/roamcollect": true, "lib/systemd/system/roamload.service": true,
		"etc/roamsettle/roam.toml": false, "var/lib/roamsettle/roam.db": false} {
		if _, err := os.Stat(at(p)); os.IsNotExist(err) != gone {
			t.Errorf("after remove, /%s: %v (want gone: %v)", p, err, gone)
		}
	}
	// Purge: the configuration goes; the data (financial records) and the
	// user stay.
	dpkgIn("-P", "roamsettle")
	for p, gone := range map[string]bool{"etc/roamsettle": true, "var/lib/roamsettle/metrics": true, "var/lib/roamsettle/roam.db": false} {
		if _, err := os.Stat(at(p)); os.IsNotExist(err) != gone {
			t.Errorf("after purge, /%s: %v (want gone: %v)", p, err, gone)
		}
	}
	user(t, at("etc/passwd"), "roam")
	if o, err := exec.Command(dpkg, "--root="+root, "-s", "roamsettle").CombinedOutput(); err == nil {
		t.Errorf("still known to dpkg after purge:\n%s", o)
	}
}

// user is the uid and gid of name in a passwd file, which must give it
// /var/lib/roamsettle as home and no login shell.
func user(t *testing.T, passwd, name string) (int, int) {
	t.Helper()
	b, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == name {
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			if f[5] != "/var/lib/roamsettle" || !strings.HasSuffix(f[6], "nologin") || uid == 0 {
				t.Errorf("user %s: %s", name, l)
			}
			return uid, gid
		}
	}
	t.Fatalf("no user %s in %s:\n%s", name, passwd, b)
	return 0, 0
}

// archOf is the Debian architecture package.sh builds for here.
func archOf(t *testing.T) string {
	o, _ := run(t, nil, "go", "env", "GOARCH")
	switch a := strings.TrimSpace(o); a {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	default:
		return a
	}
}
