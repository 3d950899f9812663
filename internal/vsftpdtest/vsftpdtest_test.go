package vsftpdtest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/internal/testbin"
	"roamsettle/internal/vsftpdtest"
)

// The harness checked with another client (curl), so a fault in the FTP
// transport cannot hide one here: TLS with the exposed CA file, the
// operator's view of every ISP folder, an ISP's view of its own only, and
// nothing left in /etc afterwards, not even by an earlier crashed run.
func TestServer(t *testing.T) {
	curl := testbin.Require(t, "curl")
	stale := filepath.Join("/etc/pam.d", "roamsettle-test-999999999-deadbeef")
	var pam []string
	served := false
	t.Run("serve", func(t *testing.T) {
		if os.Geteuid() == 0 {
			if err := os.WriteFile(stale, []byte("# left by a crashed run\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: []string{"ISPA", "ISPB"}})
		pam, _ = filepath.Glob(fmt.Sprintf("/etc/pam.d/roamsettle-test-%d-*", os.Getpid()))
		run := func(a vsftpdtest.Account, args ...string) (string, error) {
			// --path-as-is: send "../" to the server instead of resolving it.
			base := []string{"-sS", "--ssl-reqd", "--cacert", s.CAFile, "--user", a.User + ":" + a.Password, "--path-as-is"}
			out, err := exec.Command(curl, append(base, args...)...).CombinedOutput()
			return string(out), err
		}
		src := filepath.Join(t.TempDir(), "MANIFEST")
		os.WriteFile(src, []byte("ISPB only\n"), 0o644)
		if out, err := run(s.Operator, "--ftp-create-dirs", "-T", src, "ftp://"+s.Addr()+"/ISPB/2026-07/MANIFEST"); err != nil {
			t.Fatalf("operator upload: %v\n%s\n%s", err, out, s.LogText())
		}
		if b, err := os.ReadFile(filepath.Join(s.ISP["ISPB"].Root, "2026-07", "MANIFEST")); err != nil || string(b) != "ISPB only\n" {
			t.Fatalf("%q %v", b, err)
		}
		if out, err := run(s.ISP["ISPB"], "ftp://"+s.Addr()+"/2026-07/MANIFEST"); err != nil || out != "ISPB only\n" {
			t.Fatalf("ISPB reads its own: %q %v", out, err)
		}
		if out, err := run(s.ISP["ISPA"], "ftp://"+s.Addr()+"/../ISPB/2026-07/MANIFEST"); err == nil {
			t.Fatalf("ISPA read ISPB's file: %q", out)
		}
		for _, dir := range []string{"/../", "/../../", "/../ISPB/"} {
			if out, err := run(s.ISP["ISPA"], "--list-only", "ftp://"+s.Addr()+dir); strings.Contains(out, "ISPB") || strings.Contains(out, "2026-07") {
				t.Fatalf("ISPA lists %s: %q %v", dir, out, err)
			}
		}
		// Without TLS the server refuses the login.
		out, err := exec.Command(curl, "-sS", "--user", "operator:"+s.Operator.Password, "ftp://"+s.Addr()+"/").CombinedOutput()
		if err == nil {
			t.Fatalf("plain login accepted: %s", out)
		}
		served = true
	})
	if !served {
		return
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale PAM service file of a gone process kept: %v", err)
	}
	if len(pam) != 1 {
		t.Errorf("PAM service files while serving: %v", pam)
	}
	for _, p := range pam {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after the test: %v", p, err)
		}
	}
}
