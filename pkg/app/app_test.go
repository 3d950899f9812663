package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/config"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/stage"
)

func testApp(action cli.ActionFunc) *cli.App {
	flags := append(Flags(), SettingFlags("edge")...)
	return &cli.App{
		Name: "t", Flags: flags, Action: NeedSubcommand,
		Commands: []*cli.Command{{Name: "do", Flags: flags, Action: action}},
	}
}

func TestActionFlagsEnvAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfgPath, []byte("[edge]\nisp = \"ISPB\"\nstale_after = \"6h\"\n"), 0o644)
	var got *config.Config
	action := Action(Spec{Need: config.NeedEdge, Sections: []string{"edge"},
		Lock: func(cfg *config.Config) (string, string) { return dir, ".t.lock" }},
		func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
			got = cfg
			r.Add("things", 2)
			return nil
		})
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
	// --config before or after the subcommand beats ROAM_CONFIG, which
	// beats roam.toml in the working folder.
	other := filepath.Join(dir, "other.toml")
	os.WriteFile(other, []byte("[edge]\nisp = \"ISPD\"\n"), 0o644)
	t.Setenv("ROAM_CONFIG", other)
	for _, args := range [][]string{{"t", "--config", cfgPath, "do"}, {"t", "do", "--config", cfgPath}} {
		if Main(testApp(action), args, &stderr); got.Edge.ISP != "ISPB" {
			t.Errorf("%v: ROAM_CONFIG won over --config", args)
		}
	}
	if Main(testApp(action), []string{"t", "do"}, &stderr); got.Edge.ISP != "ISPD" {
		t.Errorf("ROAM_CONFIG alone was not read")
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
	if code := Main(testApp(action), []string{"t", "do", "--no-such-flag"}, &stderr); code != stage.ExitUsage {
		t.Errorf("unknown flag: exit %d", code)
	}
	if code := Main(testApp(action), []string{"t", "do", "--config", cfgPath, "extra"}, &stderr); code != stage.ExitUsage {
		t.Errorf("a word after a command that takes none: exit %d", code)
	}
	t.Setenv("ROAM_STALE_AFTER", "soon")
	stderr.Reset()
	if code := Main(testApp(action), []string{"t", "do", "--config", cfgPath}, &stderr); code != stage.ExitUsage || !strings.Contains(stderr.String(), "env ROAM_STALE_AFTER: edge.stale_after") {
		t.Errorf("bad env value: exit %d: %s", code, stderr.String())
	}
	if code := Main(testApp(action), []string{"t"}, &stderr); code != stage.ExitUsage {
		t.Errorf("bare command: exit %d", code)
	}
	if code := Main(testApp(action), []string{"t", "nope"}, &stderr); code != stage.ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	t.Setenv("ROAM_STALE_AFTER", "1h")

	// Locked: exit 4 naming the holder; with --wait, a cancelled wait
	// ends with the summary line and exit 1.
	lk, err := lock.Acquire(context.Background(), dir, ".t.lock", "the other run", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	stderr.Reset()
	if code := Main(testApp(action), []string{"t", "do", "--config", cfgPath}, &stderr); code != stage.ExitLocked || !strings.Contains(stderr.String(), "the other run") {
		t.Errorf("locked: exit %d: %s", code, stderr.String())
	}
	a := testApp(action)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	a.ErrWriter = &out
	a.ExitErrHandler = func(*cli.Context, error) {}
	err = a.RunContext(ctx, []string{"t", "do", "--config", cfgPath, "--wait"})
	if stage.ExitCode(err) != stage.ExitFailed || !strings.Contains(out.String(), "waiting for the lock") ||
		!strings.Contains(out.String(), "the other run") || !strings.Contains(out.String(), "summary: failed") ||
		!strings.Contains(err.Error(), "while waiting for the lock") {
		t.Errorf("cancelled wait: exit %d (%v):\n%s", stage.ExitCode(err), err, out.String())
	}
}

func TestHelpHasExitStatus(t *testing.T) {
	for _, args := range [][]string{{"t", "--help"}, {"t", "do", "--help"}} {
		var stdout bytes.Buffer
		a := testApp(nil)
		a.Writer = &stdout
		Main(a, args, &bytes.Buffer{})
		if !strings.Contains(stdout.String(), "EXIT STATUS:") || !strings.Contains(stdout.String(), "4  locked") {
			t.Errorf("%v: no EXIT STATUS section:\n%s", args, stdout.String())
		}
	}
}

// TestDomainPackagesFreeOfCLI keeps the command-line library out of every
// package but this harness: stages are run by tests and embedders too.
func TestDomainPackagesFreeOfCLI(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Deps " "}}`, "roamsettle/pkg/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		if pkg == "roamsettle/pkg/app" {
			continue
		}
		for _, d := range strings.Fields(deps) {
			if d == "github.com/urfave/cli/v2" || d == "golang.org/x/term" || d == "roamsettle/pkg/app" {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}
