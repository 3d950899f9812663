package push_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/sshdtest"
	"roamsettle/internal/testbin"
)

// TestBenchPush is the benchmark bench/push.sh runs (skipped unless
// ROAM_BENCH_PUSH=<files>): it times `roamcollect push` of that many ready
// sessions over loopback SFTP end to end, then OpenSSH's own `sftp put` of
// the same batch tar to the same server, and prints both and the ratio.
// It reports; it asserts nothing about time.
func TestBenchPush(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ROAM_BENCH_PUSH"))
	if n <= 0 {
		t.Skip("set ROAM_BENCH_PUSH=<files> (bench/push.sh does)")
	}
	sftpBin := testbin.Require(t, "sftp", "/usr/bin/sftp")
	s := sshdtest.Start(t)
	dir := t.TempDir()
	inbound, ref := filepath.Join(dir, "inbound"), filepath.Join(dir, "reference")
	os.Mkdir(inbound, 0o755)
	os.Mkdir(ref, 0o755)
	t0 := time.Now()
	recs := writeReady(t, filepath.Join(dir, "spool"), n, 0)
	gen := time.Since(t0)
	cfg := writeConfig(t, dir, s.URL(inbound).String(), fmt.Sprintf("known_hosts = %q\nidentity = %q\n", s.KnownHosts, s.ClientKey))
	testbin.Command(t, "roamcollect") // build before the clock starts
	exec.Command("sync").Run()        // start both timings with nothing left to write back

	// As testbin.Run does (only PATH and a fresh HOME), but keeping the
	// child's rusage for its peak RSS.
	var errBuf strings.Builder
	cmd := exec.Command(testbin.Command(t, "roamcollect"), "--config", cfg, "push")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stderr = &errBuf
	t0 = time.Now()
	err := cmd.Run()
	pushSecs := time.Since(t0).Seconds()
	stderr := errBuf.String()
	if err != nil {
		t.Fatalf("push: %v\n%s", err, stderr)
	}
	rssMB := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB on Linux
	tar := filepath.Join(inbound, "ISPB-0000000001.tar")
	st, err := os.Stat(tar)
	if err != nil {
		t.Fatal(err)
	}
	uploadMS := regexp.MustCompile(`upload_ms=(\d+)`).FindStringSubmatch(stderr)

	batchFile := filepath.Join(dir, "sftp.batch")
	os.WriteFile(batchFile, []byte(fmt.Sprintf("put %s %s\n", tar, filepath.Join(ref, "ref.tar"))), 0o644)
	exec.Command("sync").Run()
	t0 = time.Now()
	out, err := exec.Command(sftpBin, "-q", "-b", batchFile, "-i", s.ClientKey, "-P", strconv.Itoa(s.Port),
		"-o", "UserKnownHostsFile="+s.KnownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		s.User+"@"+s.Host).CombinedOutput()
	sftpSecs := time.Since(t0).Seconds()
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	if os.Getenv("ROAM_BENCH_LOG") != "" {
		fmt.Print(stderr)
	}
	up := "?"
	if uploadMS != nil {
		up = uploadMS[1]
	}
	fmt.Printf("BENCH files=%d records=%d tar_bytes=%d generate_s=%.2f push_s=%.3f push_upload_ms=%s push_rss_mb=%.1f sftp_put_s=%.3f ratio=%.2f speed_ratio=%.2f\n",
		n, recs, st.Size(), gen.Seconds(), pushSecs, up, rssMB, sftpSecs, pushSecs/sftpSecs, sftpSecs/pushSecs)
}
