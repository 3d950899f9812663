package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/transport/ftp"
)

var isps = []string{"ISPA", "ISPB", "ISPC"}

// fastDial dials as Dial does, with retries 10 ms apart (tests kill the
// server; the default waits 1, 2, 4 s).
func fastDial(ctx context.Context, t Target) (Destination, error) {
	if t.URL == nil {
		return Dial(ctx, t)
	}
	pw := t.Password
	if t.PasswordFile != "" {
		b, err := os.ReadFile(t.PasswordFile)
		if err != nil {
			return nil, err
		}
		pw = strings.TrimSpace(string(b))
	}
	c, err := ftp.Dial(ctx, ftp.Options{URL: t.URL, Password: pw, CAFile: t.CAFile, Timeout: 5 * time.Second, Backoff: 10 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// onServer points the central host's publish setting at the server's
// operator account, at its root (where each ISP's account is chrooted
// to its own folder).
func (c *central) onServer(s *vsftpdtest.Server) {
	u := s.URL(s.Operator, "")
	c.s.Publish, c.s.PublishURL, c.s.PublishPassword, c.s.PublishCAFile = u.String(), u, s.Operator.Password, s.CAFile
}

// sameAsLocal checks that the server holds exactly each ISP's local set.
func (c *central) sameAsLocal(t *testing.T, root string) {
	t.Helper()
	for _, id := range isps {
		want := files(t, filepath.Join(c.dir, "reports", "2026-07", id))
		got := files(t, filepath.Join(root, id, "2026-07"))
		if names(got) != names(want) {
			t.Fatalf("%s on the server: %s\nwant %s", id, names(got), names(want))
		}
		for n, b := range want {
			if got[n] != b {
				t.Errorf("%s/%s on the server differs from the local file", id, n)
			}
		}
	}
}

// A clean publish over FTP and over FTPS, then an identical one that
// sends nothing.
func TestPublishOverFTP(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: tls, ISPs: isps})
			c := newCentral(t, "", "", 40)
			c.onServer(s)
			run, logs, err := c.publish(Options{})
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, logs, s.LogText())
			}
			c.sameAsLocal(t, s.Root)
			if run.Count(countPublished) != 3 {
				t.Errorf("published %d", run.Count(countPublished))
			}
			stores := strings.Count(s.LogText(), "STOR")
			run, _, err = c.publish(Options{BeforeFile: func(isp, name string) { t.Errorf("re-publish sent %s/%s", isp, name) }})
			if err != nil || run.Count(countUnchanged) != 3 || run.Count(countFiles) != 0 {
				t.Fatalf("re-publish: %v, unchanged %d, files %d", err, run.Count(countUnchanged), run.Count(countFiles))
			}
			if n := strings.Count(s.LogText(), "STOR"); n != stores {
				t.Errorf("the server logged %d uploads during the identical re-publish", n-stores)
			}
			if tls {
				ispTakesItsSet(t, s, c, "ISPB")
			}
		})
	}
}

// ispTakesItsSet: an ISP downloads its set with its own account over
// FTPS with curl, and every file matches the MANIFEST.
func ispTakesItsSet(t *testing.T, s *vsftpdtest.Server, c *central, id string) {
	t.Helper()
	curl := testbin.Require(t, "curl")
	a, dir := s.ISP[id], t.TempDir()
	args := []string{"-sS", "--max-time", "60", "--ssl-reqd", "--cacert", s.CAFile, "--user", a.User + ":" + a.Password}
	local := files(t, filepath.Join(c.dir, "reports", "2026-07", id))
	for n := range local {
		args = append(args, "ftp://"+s.Addr()+"/2026-07/"+n, "-o", filepath.Join(dir, n))
	}
	if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	got := files(t, dir)
	entries, err := parseManifest([]byte(got["MANIFEST"]), id+" MANIFEST")
	if err != nil || len(entries) != len(local)-1 {
		t.Fatalf("%s's MANIFEST: %d entries, %v", id, len(entries), err)
	}
	for _, e := range entries {
		h := sha256.Sum256([]byte(got[e.name]))
		if hex.EncodeToString(h[:]) != e.sha256 {
			t.Errorf("%s/%s taken over FTPS does not match its MANIFEST", id, e.name)
		}
	}
}

// The ISPs' view while a publish is under way: polling its directory with
// its own account (curl), an ISP never finds a MANIFEST whose
// files do not match it, nor any file under its final name that differs
// from the one published; and it cannot read another ISP's folder.
func TestPublishISPView(t *testing.T) {
	curl := testbin.Require(t, "curl")
	// Plain FTP: curl over FTPS spends some 0.2 s per transfer with this
	// vsftpd, and this polls hundreds of times; an ISP taking its set over
	// FTPS with curl is in TestPublishOverFTP. Many short data
	// connections: more passive ports than the default.
	s := vsftpdtest.Start(t, vsftpdtest.Options{ISPs: isps, PassivePorts: 200})
	c := newCentral(t, "", "", 40)
	c.onServer(s)
	login := func(isp string) []string {
		a := s.ISP[isp]
		return []string{"-sS", "--max-time", "20", "--user", a.User + ":" + a.Password, "--path-as-is"}
	}
	// fetch downloads, in one session, the ISP's MANIFEST and then every
	// file of its set that is there under its final name.
	fetch := func(id string, names []string) map[string]string {
		dir := t.TempDir()
		args := login(id)
		for _, n := range append([]string{"MANIFEST"}, names...) {
			args = append(args, "ftp://"+s.Addr()+"/2026-07/"+n, "-o", filepath.Join(dir, n))
		}
		exec.Command(curl, args...).Run() // missing files are the point
		return files(t, dir)
	}
	local := func(id string) (map[string]string, []string) {
		m := files(t, filepath.Join(c.dir, "reports", "2026-07", id))
		var names []string
		for n := range m {
			if n != "MANIFEST" {
				names = append(names, n)
			}
		}
		return m, names
	}
	polls, complete := 0, 0
	poll := func(id string) {
		want, names := local(id)
		got := fetch(id, names)
		polls++
		for n, b := range got {
			if b != want[n] && n != "MANIFEST" {
				t.Errorf("%s finds %s under its final name, differing from the published file", id, n)
			}
		}
		m, ok := got["MANIFEST"]
		if !ok {
			return // not complete: the ISP's tools wait
		}
		entries, err := parseManifest([]byte(m), id+" MANIFEST")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			h := sha256.Sum256([]byte(got[e.name]))
			if hex.EncodeToString(h[:]) != e.sha256 {
				t.Errorf("%s's MANIFEST is there but %s does not match it: a partial set", id, e.name)
			}
		}
		complete++
	}
	prev := ""
	if _, logs, err := c.publish(Options{BeforeFile: func(isp, name string) {
		if prev != "" && prev != isp {
			poll(prev) // the set just finished
		}
		poll(isp)
		prev = isp
	}}); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	poll(prev)
	if polls < 20 || complete < 3 {
		t.Errorf("%d polls, %d complete sets seen: the check saw too little", polls, complete)
	}
	get := func(isp, name string) (string, error) {
		out, err := exec.Command(curl, append(login(isp), "ftp://"+s.Addr()+"/"+name)...).Output()
		return string(out), err
	}
	if out, err := get("ISPA", "../ISPB/2026-07/MANIFEST"); err == nil {
		t.Errorf("ISPA's account reads ISPB's MANIFEST: %q", out)
	}
}

// The server killed in the middle of a publish: the ISP being sent fails
// (after retries) and so do the others; nothing under a final name
// differs from its local file; once the server is back, the next run
// completes every set.
func TestPublishServerKilled(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{ISPs: isps})
	c := newCentral(t, "", "", 40)
	c.onServer(s)
	n := 0
	run, logs, err := c.publish(Options{Dial: fastDial, BeforeFile: func(isp, name string) {
		if isp == "ISPB" {
			if n++; n == 3 {
				s.Kill()
			}
		}
	}})
	if err == nil || stage.ExitCode(err) != 1 || !strings.Contains(err.Error(), "ISPB") {
		t.Fatalf("want exit 1 naming ISPB, got %v\n%s", err, logs)
	}
	if run.Count(countPublished) != 1 || run.Count(countFailed) != 2 {
		t.Errorf("published %d (ISPA), failed %d (ISPB, ISPC)", run.Count(countPublished), run.Count(countFailed))
	}
	for _, id := range isps {
		local := filepath.Join(c.dir, "reports", "2026-07", id)
		for name, b := range files(t, filepath.Join(s.Root, id, "2026-07")) {
			if strings.HasPrefix(filepath.Base(name), ".") {
				continue
			}
			if want, _ := os.ReadFile(filepath.Join(local, name)); string(want) != b {
				t.Errorf("%s/%s under its final name differs from the local file", id, name)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(s.Root, "ISPB", "2026-07", "MANIFEST")); err == nil {
		t.Error("ISPB's MANIFEST is on the server though its set was cut off")
	}
	s.Restart()
	run, logs, err = c.publish(Options{Dial: fastDial})
	if err != nil {
		t.Fatalf("after the restart: %v\n%s", err, logs)
	}
	c.sameAsLocal(t, s.Root)
	if run.Count(countUnchanged) != 1 || run.Count(countPublished) != 2 {
		t.Errorf("unchanged %d, published %d", run.Count(countUnchanged), run.Count(countPublished))
	}
}

// A wrong password and a certificate the client must not trust stop the
// run at once, with the server's or TLS's words, and nothing is retried.
func TestPublishRefused(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: isps})
	c := newCentral(t, "", "", 5)
	c.onServer(s)
	c.s.PublishPassword = "wrong"
	start := time.Now()
	_, _, err := c.publish(Options{})
	if !errors.Is(err, ErrRefused) || stage.ExitCode(err) != 1 || !strings.Contains(err.Error(), "ISPA") {
		t.Errorf("wrong password: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("a refused login took %v: retried?", time.Since(start))
	}
	c.onServer(s)
	other, _ := vsftpdtest.SelfSigned(t, t.TempDir(), "other")
	c.s.PublishCAFile = other
	if _, _, err := c.publish(Options{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root, "ISPA")); len(ents) != 0 {
		t.Errorf("something was uploaded: %v", ents)
	}
}

// ISPs with their own accounts (the publish column of partners.csv): each
// set goes to <its home>/<PERIOD> through its own login.
func TestPublishPerISPAccounts(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: isps})
	dir := t.TempDir()
	var p strings.Builder
	p.WriteString("id,name,country,realms,timezone,publish,publish_password_file\n")
	for i, line := range strings.Split(strings.TrimSpace(partnersCSV), "\n")[1:] {
		a := s.ISP[isps[i]]
		pw := filepath.Join(dir, isps[i]+".pw")
		os.WriteFile(pw, []byte(a.Password+"\n"), 0o600)
		fmt.Fprintf(&p, "%s,%s,%s\n", line, s.URL(a, ""), pw)
	}
	c := newCentral(t, "", p.String(), 30)
	c.s.PublishCAFile = s.CAFile
	if _, logs, err := c.publish(Options{}); err != nil {
		t.Fatalf("%v\n%s\n%s", err, logs, s.LogText())
	}
	c.sameAsLocal(t, s.Root)
	if strings.Contains(s.LogText(), "[operator] OK LOGIN") {
		t.Error("the operator's account was used")
	}
	for _, id := range isps {
		if !strings.Contains(s.LogText(), "["+s.ISP[id].User+"] OK LOGIN") {
			t.Errorf("no login as %s in the server's log", s.ISP[id].User)
		}
	}
}

// An ISP's own account whose password file is missing, a FIFO, a folder
// or far too large: that ISP fails at once, naming the file, and the
// others are published (a FIFO with no writer never hangs the run).
func TestPublishPerISPPasswordFileBad(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{ISPs: isps})
	for _, tc := range []struct {
		name string
		make func(path string)
	}{
		{"missing", func(string) {}},
		{"a FIFO", func(p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			// Were it opened blocking, this lets the open return.
			t.Cleanup(func() {
				if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
		}},
		{"a folder", func(p string) { os.Mkdir(p, 0o700) }},
		{"too large", func(p string) { os.WriteFile(p, make([]byte, 1<<20), 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var p strings.Builder
			p.WriteString("id,name,country,realms,timezone,publish,publish_password_file\n")
			for i, line := range strings.Split(strings.TrimSpace(partnersCSV), "\n")[1:] {
				a := s.ISP[isps[i]]
				pw := filepath.Join(dir, isps[i]+".pw")
				if isps[i] == "ISPB" {
					tc.make(pw)
				} else {
					os.WriteFile(pw, []byte(a.Password+"\n"), 0o600)
				}
				fmt.Fprintf(&p, "%s,%s,%s\n", line, s.URL(a, ""), pw)
			}
			c := newCentral(t, "", p.String(), 6)
			type result struct {
				run  *stage.Run
				logs string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				run, logs, err := c.publish(Options{})
				done <- result{run, logs, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("publish hangs on ISPB's password file")
			}
			if stage.ExitCode(r.err) != 1 || !strings.Contains(r.err.Error(), "ISPB") || !strings.Contains(r.logs, "ISPB.pw") {
				t.Errorf("want exit 1 naming ISPB and its password file: %v\n%s", r.err, r.logs)
			}
			// The same server for every case: ISPA's and ISPC's sets are
			// there after the first.
			if n := r.run.Count(countPublished) + r.run.Count(countUnchanged); n != 2 || r.run.Count(countFailed) != 1 {
				t.Errorf("%d published or unchanged, %d failed: want ISPA and ISPC at their destinations\n%s", n, r.run.Count(countFailed), r.logs)
			}
		})
	}
}
