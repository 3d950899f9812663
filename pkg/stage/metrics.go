package stage

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"roamsettle/pkg/durable"
)

// writeMetrics writes the Prometheus textfile atomically; the last-success
// time is carried over from the previous file when this run failed.
func (r *Run) writeMetrics(code int, elapsed time.Duration) error {
	prefix := "roam_" + strings.NewReplacer(" ", "_", "-", "_").Replace(r.Name)
	lastOK := previousValue(r.MetricsFile, prefix+"_last_success_timestamp_seconds")
	if code == ExitOK || code == ExitAttention {
		lastOK = fmt.Sprint(time.Now().Unix())
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# HELP %s_items Counts of the last run.\n# TYPE %s_items gauge\n", prefix, prefix)
	for _, n := range r.names {
		fmt.Fprintf(&buf, "%s_items{kind=%q} %d\n", prefix, n, r.counts[n])
	}
	fmt.Fprintf(&buf, "# HELP %s_duration_seconds Duration of the last run.\n# TYPE %s_duration_seconds gauge\n%s_duration_seconds %.3f\n", prefix, prefix, prefix, elapsed.Seconds())
	fmt.Fprintf(&buf, "# HELP %s_exit_code Exit code of the last run.\n# TYPE %s_exit_code gauge\n%s_exit_code %d\n", prefix, prefix, prefix, code)
	fmt.Fprintf(&buf, "# HELP %s_last_run_timestamp_seconds When the last run ended.\n# TYPE %s_last_run_timestamp_seconds gauge\n%s_last_run_timestamp_seconds %d\n", prefix, prefix, prefix, time.Now().Unix())
	if lastOK != "" {
		fmt.Fprintf(&buf, "# HELP %s_last_success_timestamp_seconds When the last successful run ended.\n# TYPE %s_last_success_timestamp_seconds gauge\n%s_last_success_timestamp_seconds %s\n", prefix, prefix, prefix, lastOK)
	}
	return durable.WriteFile(r.MetricsFile, buf.Bytes(), 0o644)
}

func previousValue(path, metric string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), metric+" "); ok {
			return v
		}
	}
	return ""
}
