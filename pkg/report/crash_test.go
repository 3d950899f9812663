package report

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
)

// The crash test runs this test binary as a child that reports a period
// and kills itself (SIGKILL) at a crash point: the seam is an option of
// Report, read here from the child's environment, never by roamreport.
const crashChild = "ROAMREPORT_TEST_CRASH_CHILD"

func TestMain(m *testing.M) {
	if at := os.Getenv(crashChild); at != "" {
		cfg, err := config.Load(os.Getenv("CRASH_CONFIG"), false, nil, config.NeedCentral|config.NeedParties)
		if err != nil {
			panic(err)
		}
		opts := Options{Period: "2026-10", Revise: os.Getenv("CRASH_REVISE") != "", Crash: func(point string) {
			if point == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}}
		err = Report(context.Background(), stage.NewText("roamreport", os.Stderr), &cfg.Settlement, opts)
		os.Exit(stage.ExitCode(err))
	}
	os.Exit(m.Run())
}

func (w *world) crashAt(t *testing.T, point string, revise bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashChild+"="+point, "CRASH_CONFIG="+filepath.Join(w.dir, "roam.toml"))
	if revise {
		cmd.Env = append(cmd.Env, "CRASH_REVISE=1")
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("the child was not killed at %s: %v\n%s", point, err, out)
	}
}

// TestCrashWhileWriting kills roamreport while it writes a period (its
// new folder complete beside the old, not committed) and just after its
// commit (the folder not in place yet), for a first report and for a
// revision. Each time the next run ends with either the old folder or the
// complete new one, never a mix, and the same bytes as a run that never
// crashed.
func TestCrashWhileWriting(t *testing.T) {
	clean := newWorld(t, testTariffsCSV)
	clean.put(goldenSessions[:len(goldenSessions)-1]...)
	clean.report("2026-10", false)
	late := sess{"ISPB", "alice@aimnet.com", utc("2026-10-06T00:00:00Z"), 900}
	clean.put(late)
	clean.report("2026-10", true)
	want := snapshot(t, clean.path())
	for _, point := range []string{CrashFilesWritten, CrashAfterCommit} {
		t.Run(point, func(t *testing.T) {
			w := newWorld(t, testTariffsCSV)
			w.put(goldenSessions[:len(goldenSessions)-1]...)
			w.crashAt(t, point, false)
			if point == CrashFilesWritten {
				if _, err := os.Stat(w.path("2026-10")); !os.IsNotExist(err) {
					t.Fatalf("a run killed before its commit left reports/2026-10: %v", err)
				}
			}
			w.report("2026-10", false)
			before := revisionOne(t, w.path("2026-10"))
			w.put(late)
			w.crashAt(t, point, true)
			if got := revisionOne(t, w.path("2026-10")); got != before {
				t.Fatal("revision 1 was touched by the killed revision")
			}
			if _, err := os.Stat(w.path("2026-10", "rev-2")); !os.IsNotExist(err) && point == CrashFilesWritten {
				t.Fatalf("a killed revision left rev-2: %v", err)
			}
			_, logs, err := w.report("2026-10", point == CrashFilesWritten)
			if code := stage.ExitCode(err); code != stage.ExitOK && code != stage.ExitAttention { // 3: the NO_TARIFF session
				t.Fatalf("the run after the crash: %v\n%s", err, logs)
			}
			got := strings.ReplaceAll(snapshot(t, w.path()), w.dir, clean.dir)
			if got != want {
				t.Errorf("after a crash at %s the reports differ from a run that never crashed", point)
			}
			if leftovers, _ := filepath.Glob(w.path(".*")); len(leftovers) > 0 {
				t.Errorf("leftovers: %v", leftovers)
			}
		})
	}
}

// revisionOne is snapshot of a period's revision 1 files only.
func revisionOne(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), "rev-") || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.WriteString(p + "\n" + string(data) + "\n")
		}
		return nil
	})
	return b.String()
}
