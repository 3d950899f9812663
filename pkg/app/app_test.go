package app

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

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
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func testApp(action cli.ActionFunc) *cli.App {
	flags := append(Flags(), SettingFlags("edge")...)
	return &cli.App{
		Name: "t", Flags: flags, Action: NeedSubcommand,
		Commands: []*cli.Command{{Name: "do", Flags: flags, Action: action}},
	}
}

func TestMainFlagsEnvAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfgPath, []byte("[edge]\nisp = \"ISPB\"\nstale_after = \"6h\"\n"), 0o644)
	var got *config.Config
	action := func(c *cli.Context) error {
		run, err := NewRun(c)
		if err != nil {
			return err
		}
		cfg, err := LoadConfig(c, config.NeedEdge, "edge")
		if err != nil {
			return err
		}
		got = cfg
		run.Add("things", 2)
		return run.Finish(nil)
	}
	var stderr bytes.Buffer
	// The global --config (before the subcommand) and a setting flag after it.
	if code := Main(testApp(action), []string{"t", "--config", cfgPath, "do", "--stale-after", "2h", "--metrics-file", filepath.Join(dir, "m.prom")}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got.Edge.StaleAfter.Hours() != 2 {
		t.Errorf("flag did not win: %v", got.Edge.StaleAfter)
	}
	if !strings.Contains(stderr.String(), "summary: done: things 2") {
		t.Errorf("no summary line: %s", stderr.String())
	}
	prom, _ := os.ReadFile(filepath.Join(dir, "m.prom"))
	for _, w := range []string{`roam_t_do_items{kind="things"} 2`, "roam_t_do_exit_code 0", "roam_t_do_last_success_timestamp_seconds "} {
		if !strings.Contains(string(prom), w) {
			t.Errorf("metrics lack %q:\n%s", w, prom)
		}
	}
	// Environment beats the file, flag beats the environment.
	t.Setenv("ROAM_STALE_AFTER", "3h")
	Main(testApp(action), []string{"t", "do", "--config", cfgPath}, &stderr)
	if got.Edge.StaleAfter.Hours() != 3 {
		t.Errorf("env did not win over file: %v", got.Edge.StaleAfter)
	}
	Main(testApp(action), []string{"t", "do", "--config", cfgPath, "--stale-after", "4h"}, &stderr)
	if got.Edge.StaleAfter.Hours() != 4 {
		t.Errorf("flag did not win over env: %v", got.Edge.StaleAfter)
	}
	// Bad usage and bad config exit 2; a bare command shows help and exits 2.
	stderr.Reset()
	if code := Main(testApp(action), []string{"t", "do", "--no-such-flag"}, &stderr); code != ExitUsage {
		t.Errorf("unknown flag: exit %d", code)
	}
	t.Setenv("ROAM_STALE_AFTER", "soon")
	stderr.Reset()
	if code := Main(testApp(action), []string{"t", "do", "--config", cfgPath}, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), "env ROAM_STALE_AFTER: edge.stale_after") {
		t.Errorf("bad env value: exit %d: %s", code, stderr.String())
	}
	if code := Main(testApp(action), []string{"t"}, &stderr); code != ExitUsage {
		t.Errorf("bare command: exit %d", code)
	}
	if code := Main(testApp(action), []string{"t", "nope"}, &stderr); code != ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}
