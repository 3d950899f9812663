package stage

import (
	"os"
	"os/exec"
	"testing"

	"roamsettle/internal/testbin"
)

// TestAlertRules checks docs/alerts.yml with the real promtool and runs
// its unit tests (docs/alerts_test.yml) over the metric names this
// package writes (writeMetrics: roam_<command>_items{kind=...},
// _exit_code, _last_success_timestamp_seconds).
func TestAlertRules(t *testing.T) {
	promtool := testbin.Require(t, "promtool")
	// Read here so that go test's cache knows them: promtool's reads are
	// not seen, and an edited rule would pass as "(cached)".
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		if _, err := os.ReadFile("../../docs/" + f); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../docs"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
