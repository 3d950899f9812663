package stage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"roamsettle/pkg/config"
	"roamsettle/pkg/lock"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("disk full"), ExitFailed},
		{Usagef("bad"), ExitUsage},
		{fmt.Errorf("load: %w", config.Errors{{File: "roam.toml", Line: 3, Msg: "x"}}), ExitUsage},
		{&config.Error{File: "f"}, ExitUsage},
		{fmt.Errorf("wrapped: %w", &AttentionError{Msg: "2 quarantined"}), ExitAttention},
		{fmt.Errorf("wrapped: %w", &lock.HeldError{Path: "x"}), ExitLocked},
		{Attention(0, "nothing"), ExitOK},
		{Attention(2, "two"), ExitAttention},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestFinishSummaryAndMetrics(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	r := NewText("roamcollect push", &buf)
	r.MetricsFile = filepath.Join(dir, "m.prom")
	r.Add("files", 2)
	r.Add("bad", 0)
	r.Add("files", 1)
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "summary: done: files 3, bad 0 in ") {
		t.Errorf("summary line: %s", buf.String())
	}
	prom, _ := os.ReadFile(r.MetricsFile)
	for _, w := range []string{`roam_roamcollect_push_items{kind="files"} 3`, "roam_roamcollect_push_exit_code 0", "roam_roamcollect_push_last_success_timestamp_seconds ", "roam_roamcollect_push_last_run_timestamp_seconds "} {
		if !strings.Contains(string(prom), w) {
			t.Errorf("metrics lack %q:\n%s", w, prom)
		}
	}
	last := previousValue(r.MetricsFile, "roam_roamcollect_push_last_success_timestamp_seconds")
	// A failed run keeps the last success time of the run before.
	buf.Reset()
	r2 := NewText("roamcollect push", &buf)
	r2.MetricsFile = r.MetricsFile
	r2.Finish(errors.New("no route"))
	if !strings.Contains(buf.String(), "summary: failed: ") {
		t.Errorf("summary line: %s", buf.String())
	}
	prom, _ = os.ReadFile(r.MetricsFile)
	if !strings.Contains(string(prom), "roam_roamcollect_push_exit_code 1") || previousValue(r.MetricsFile, "roam_roamcollect_push_last_success_timestamp_seconds") != last {
		t.Errorf("metrics after a failure:\n%s", prom)
	}
}

// The metrics file is 0644 whatever the umask (the units run with 0027):
// node_exporter reads it as another user.
func TestMetricsFileReadableByOthers(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	r := NewText("roamload", io.Discard)
	r.MetricsFile = filepath.Join(t.TempDir(), "m.prom")
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(r.MetricsFile)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("metrics file: %v %v, want 0644", st.Mode().Perm(), err)
	}
}
